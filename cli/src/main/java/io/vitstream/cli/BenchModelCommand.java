package io.vitstream.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

@Command(name = "model", mixinStandardHelpOptions = true, description = "Model throughput vs the machine's sgemm peak.")
final class BenchModelCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new UnsupportedOperationException("not yet");
    }
}
