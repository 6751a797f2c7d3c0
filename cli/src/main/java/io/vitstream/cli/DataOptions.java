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

    LabeledImages test(int size) {
        return imageFolder != null ? ImageFolder.load(imageFolder, size) : FashionMnist.load(dataDir, FashionMnist.Split.TEST);
    }
}
