package io.vitstream.serving;

import java.nio.file.Path;

/** A second process claiming a worker index (for {@code WorkerConfigTest}): prints it, then waits to be killed. */
final class WorkerIndexMain {
    private WorkerIndexMain() {}

    public static void main(String[] args) throws Exception {
        System.out.println(WorkerIndex.claim("h", Path.of(args[0])));
        System.out.flush();
        Thread.sleep(60_000);
    }
}
