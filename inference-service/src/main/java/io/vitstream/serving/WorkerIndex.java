package io.vitstream.serving;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The index of this worker process among the workers of one host: the lowest whose lock file no other live process
 * holds. The lock is held until the process ends (a SIGKILL included: the OS releases it), so a worker restarted
 * alone gets its old index back.
 */
final class WorkerIndex {
    private static final int MAX = 1024;
    /** Held for the life of the process; never released explicitly. */
    private static final List<FileLock> HELD = new ArrayList<>();
    /**
     * Lock files this process holds. They are never opened again: on Linux, closing any channel to a file drops every
     * lock the process holds on it.
     */
    private static final java.util.Set<Path> HELD_FILES = new java.util.HashSet<>();

    private WorkerIndex() {}

    /** Claims the lowest free index for {@code host} under the temporary directory. */
    static synchronized int claim(String host) {
        return claim(host, Path.of(System.getProperty("java.io.tmpdir"), "vitstream-worker-ids"));
    }

    static synchronized int claim(String host, Path dir) {
        try {
            Files.createDirectories(dir);
            for (int i = 0; i < MAX; i++) {
                Path file = dir.resolve(host + "-" + i + ".lock").toAbsolutePath();
                if (HELD_FILES.contains(file)) {
                    continue; // another worker in this process
                }
                FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                FileLock lock;
                try {
                    lock = channel.tryLock();
                } catch (OverlappingFileLockException e) {
                    lock = null;
                }
                if (lock != null) {
                    HELD.add(lock);
                    HELD_FILES.add(file);
                    return i;
                }
                channel.close(); // another process holds it; this process held no lock on it to lose
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot claim a worker index under " + dir + " (set worker.id instead): "
                    + e.getMessage(), e);
        }
        throw new IllegalStateException(MAX + " workers on this host already: set worker.id");
    }
}
