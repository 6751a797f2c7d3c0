package io.vitstream.cli;

import io.vitstream.data.DataSplit;
import io.vitstream.data.FashionMnist;
import io.vitstream.data.ImageFolder;
import io.vitstream.data.LabeledImages;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Where labelled images come from: Fashion-MNIST (default) or an image folder. */
public final class DataOptions {
    @Option(names = "--data-dir",
            defaultValue = "${env:VITSTREAM_DATA_DIR:-/usr/share/datasets/fashion-mnist}",
            description = "Fashion-MNIST directory with the gzip IDX files (default: ${DEFAULT-VALUE}; env VITSTREAM_DATA_DIR).")
    public Path dataDir;

    @Option(names = "--image-folder",
            description = "Use a labelled image folder root/<class>/*.png|jpg instead of Fashion-MNIST (test split only).")
    public Path imageFolder;

    /** Fails fast, before any model is loaded, when the data source does not exist. */
    public void checkAvailable() {
        Path dir = imageFolder != null ? imageFolder : dataDir;
        if (!java.nio.file.Files.isDirectory(dir)) {
            throw new io.vitstream.util.UserError(imageFolder != null ? "image folder not found: " + dir
                    : "Fashion-MNIST directory not found: " + dir
                            + " (install it with `apt-get install dataset-fashion-mnist` or pass --data-dir)");
        }
    }

    public LabeledImages train() {
        if (imageFolder != null) {
            throw new IllegalArgumentException("--image-folder is for evaluation; training uses --data-dir");
        }
        return FashionMnist.load(dataDir, FashionMnist.Split.TRAIN);
    }

    /** Training data and its validation split. */
    public record Split(LabeledImages all, LabeledImages train, LabeledImages validation) {}

    /** The training split cut into training and validation images; see {@link DataSplit}. */
    public Split trainAndValidation(int valSize, Integer limit, long seed) {
        if (valSize < 0) {
            throw new io.vitstream.util.UserError("--val-size must be >= 0, got " + valSize);
        }
        if (limit != null && limit < 1) {
            throw new io.vitstream.util.UserError("--limit must be positive, got " + limit);
        }
        try {
            DataSplit s = DataSplit.of(train(), valSize, limit, seed);
            return new Split(s.all(), s.train(), s.validation());
        } catch (IllegalArgumentException e) {
            throw new io.vitstream.util.UserError("--val-size " + valSize + ": " + e.getMessage());
        }
    }

    public LabeledImages test(int size) {
        return imageFolder != null ? ImageFolder.load(imageFolder, size) : FashionMnist.load(dataDir, FashionMnist.Split.TEST);
    }
}
