package io.vitstream.testing;

import io.vitstream.data.FashionMnist;
import java.nio.file.Files;
import java.nio.file.Path;

/** Locations shared by tests: the repository root and the Fashion-MNIST files (installed by .ci/run). */
public final class TestData {
    private TestData() {}

    public static Path repoRoot() {
        String prop = System.getProperty("vitstream.repo.root");
        Path p = prop != null ? Path.of(prop) : Path.of("").toAbsolutePath();
        while (p != null && !Files.isRegularFile(p.resolve("vitstream"))) {
            p = p.getParent();
        }
        if (p == null) {
            throw new IllegalStateException("cannot find the repository root (no ./vitstream launcher above "
                    + Path.of("").toAbsolutePath() + ")");
        }
        return p;
    }

    /** The dataset directory; a missing dataset fails the test (it is installed by .ci/run, never skipped). */
    public static Path fashionMnist() {
        Path dir = FashionMnist.DEFAULT_DIR;
        if (!Files.isRegularFile(dir.resolve("t10k-images-idx3-ubyte.gz"))) {
            throw new IllegalStateException("Fashion-MNIST is not installed at " + dir
                    + ": run `apt-get install dataset-fashion-mnist` (the README's setup and .ci/run do)");
        }
        return dir;
    }
}
