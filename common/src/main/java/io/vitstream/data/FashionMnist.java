package io.vitstream.data;

import io.vitstream.util.UserError;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPInputStream;

/** Reads Fashion-MNIST from its gzip IDX files (Debian package {@code dataset-fashion-mnist}). */
public final class FashionMnist {
    public static final Path DEFAULT_DIR = Path.of("/usr/share/datasets/fashion-mnist");
    public static final List<String> CLASS_NAMES = List.of(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");
    /** Mean and standard deviation of the training pixels scaled to [0, 1]. */
    public static final float MEAN = 0.2860f;
    public static final float STD = 0.3530f;

    public enum Split {
        TRAIN("train"),
        TEST("t10k");

        private final String prefix;

        Split(String prefix) {
            this.prefix = prefix;
        }
    }

    private FashionMnist() {}

    /** Loads a split; fails with a {@link UserError} naming what is missing or malformed. */
    public static LabeledImages load(Path dir, Split split) {
        if (!Files.isDirectory(dir)) {
            throw new UserError("Fashion-MNIST directory not found: " + dir
                    + " (install it with `apt-get install dataset-fashion-mnist` or pass --data-dir)");
        }
        Path images = dir.resolve(split.prefix + "-images-idx3-ubyte.gz");
        Path labels = dir.resolve(split.prefix + "-labels-idx1-ubyte.gz");
        try {
            Idx img = readIdx(images, 2051);
            Idx lab = readIdx(labels, 2049);
            int n = lab.payload().length;
            int[] lbl = new int[n];
            for (int i = 0; i < n; i++) {
                lbl[i] = lab.payload()[i] & 0xff;
                if (lbl[i] >= CLASS_NAMES.size()) {
                    throw new UserError(labels + ": label " + lbl[i] + " at index " + i + " is not a Fashion-MNIST class");
                }
            }
            int rows = img.rows();
            int cols = img.cols();
            if ((long) n * rows * cols != img.payload().length) {
                throw new UserError(images + " holds " + img.payload().length / (rows * cols)
                        + " images but " + labels + " holds " + n + " labels");
            }
            return new LabeledImages(img.payload(), lbl, rows, cols, CLASS_NAMES);
        } catch (IOException e) {
            throw new UserError("cannot read Fashion-MNIST from " + dir + ": " + e.getMessage(), e);
        }
    }

    /** One IDX file: item shape (1x1 for labels) and the raw unsigned bytes. */
    private record Idx(int rows, int cols, byte[] payload) {}

    private static Idx readIdx(Path file, int expectedMagic) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new UserError("missing Fashion-MNIST file: " + file);
        }
        try (InputStream raw = Files.newInputStream(file);
                DataInputStream in = new DataInputStream(new BufferedInputStream(new GZIPInputStream(raw), 1 << 16))) {
            int magic = in.readInt();
            if (magic != expectedMagic) {
                throw new UserError(file + ": not an IDX file of the expected kind (magic " + magic + ", expected "
                        + expectedMagic + ")");
            }
            int n = in.readInt();
            int rows = 1;
            int cols = 1;
            if (expectedMagic == 2051) {
                rows = in.readInt();
                cols = in.readInt();
                if (rows < 1 || cols < 1 || rows > 127 || cols > 127) {
                    throw new UserError(file + ": implausible image size " + rows + "x" + cols);
                }
            }
            long size = (long) n * rows * cols;
            if (n < 0 || size > Integer.MAX_VALUE) {
                throw new UserError(file + ": implausible item count " + n);
            }
            byte[] payload = in.readNBytes((int) size);
            if (payload.length != size) {
                throw new UserError(file + ": truncated (" + payload.length + " of " + size + " bytes)");
            }
            return new Idx(rows, cols, payload);
        }
    }
}
