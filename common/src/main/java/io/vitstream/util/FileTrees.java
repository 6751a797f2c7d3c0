package io.vitstream.util;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/** Removing directory trees (temporary model copies, checkpoints, broker logs). */
public final class FileTrees {
    private FileTrees() {}

    /** Deletes {@code root} and everything under it, if it exists; a file that cannot be deleted is an error. */
    public static void delete(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            List<Path> paths = walk.sorted(Comparator.reverseOrder()).toList();
            for (Path p : paths) {
                Files.delete(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove " + root + ": " + e.getMessage(), e);
        }
    }

    /** As {@link #delete}, best effort: for temporary directories, where a leftover is harmless. */
    public static void deleteQuietly(Path root) {
        try {
            delete(root);
        } catch (UncheckedIOException e) {
            // a leftover temporary directory is harmless
        }
    }
}
