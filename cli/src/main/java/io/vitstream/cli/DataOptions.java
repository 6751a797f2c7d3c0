package io.vitstream.cli;

import io.vitstream.data.FashionMnist;
import io.vitstream.data.ImageFolder;
import io.vitstream.data.LabeledImages;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Where labelled images come from: Fashion-MNIST (default) or an image folder. */
final class DataOptions {
    @Option(names = "--data-dir",
            defaultValue = "${env:VITSTREAM_DATA_DIR:-/usr/share/datasets/fashion-mnist}",
            description = "Fashion-MNIST directory with the gzip IDX files (default: ${DEFAULT-VALUE}; env VITSTREAM_DATA_DIR).")
    Path dataDir;

    @Option(names = "--image-folder",
            description = "Use a labelled image folder root/<class>/*.png|jpg instead of Fashion-MNIST (test split only).")
    Path imageFolder;

    /** Fails fast, before any model is loaded, when the data source does not exist. */
    void checkAvailable() {
        Path dir = imageFolder != null ? imageFolder : dataDir;
        if (!java.nio.file.Files.isDirectory(dir)) {
            throw new io.vitstream.util.UserError(imageFolder != null ? "image folder not found: " + dir
                    : "Fashion-MNIST directory not found: " + dir
                            + " (install it with `apt-get install dataset-fashion-mnist` or pass --data-dir)");
        }
    }

    LabeledImages train() {
        if (imageFolder != null) {
            throw new IllegalArgumentException("--image-folder is for evaluation; training uses --data-dir");
        }
        return FashionMnist.load(dataDir, FashionMnist.Split.TRAIN);
    }

    /** Training data and its validation split. */
    record Split(LabeledImages all, LabeledImages train, LabeledImages validation) {}

    /**
     * Splits the training set: a fixed, seeded shuffle, the first {@code valSize} images for validation (all choices
     * are made on these; the test set never is), then up to {@code limit} images for training.
     */
    Split trainAndValidation(int valSize, Integer limit, long seed) {
        if (valSize < 0) {
            throw new io.vitstream.util.UserError("--val-size must be >= 0, got " + valSize);
        }
        if (limit != null && limit < 1) {
            throw new io.vitstream.util.UserError("--limit must be positive, got " + limit);
        }
        LabeledImages all = train();
        LabeledImages shuffled = shuffle(all, new java.util.Random(seed ^ 0x5eedL));
        if (limit != null) {
            shuffled = shuffled.limit(limit + valSize);
        }
        if (valSize >= shuffled.count()) {
            throw new io.vitstream.util.UserError("--val-size " + valSize + " leaves no training images (have "
                    + shuffled.count() + ")");
        }
        return new Split(all, shuffled.slice(valSize, shuffled.count()), shuffled.slice(0, valSize));
    }

    private static LabeledImages shuffle(LabeledImages in, java.util.Random rng) {
        int n = in.count();
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        int px = in.imageBytes();
        byte[] pixels = new byte[in.pixels().length];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            System.arraycopy(in.pixels(), order[i] * px, pixels, i * px, px);
            labels[i] = in.labels()[order[i]];
        }
        return new LabeledImages(pixels, labels, in.height(), in.width(), in.classNames());
    }

    LabeledImages test(int size) {
        return imageFolder != null ? ImageFolder.load(imageFolder, size) : FashionMnist.load(dataDir, FashionMnist.Split.TEST);
    }
}
