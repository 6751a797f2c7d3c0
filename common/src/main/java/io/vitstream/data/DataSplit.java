package io.vitstream.data;

import java.util.Random;

/**
 * The training split divided into validation and training images: a fixed, seeded shuffle, the first
 * {@code validationSize} images for validation (every choice is made on these; the test set never is), then up to
 * {@code limit} images for training. Training, sparse training and pruning all split the same way, so the same seed
 * gives the same validation images everywhere.
 */
public record DataSplit(LabeledImages all, LabeledImages train, LabeledImages validation) {

    /**
     * @param limit training images to keep, or null for all
     * @throws IllegalArgumentException naming the bad size
     */
    public static DataSplit of(LabeledImages all, int validationSize, Integer limit, long seed) {
        if (validationSize < 0) {
            throw new IllegalArgumentException("validation size must be >= 0, got " + validationSize);
        }
        if (limit != null && limit < 1) {
            throw new IllegalArgumentException("training image limit must be positive, got " + limit);
        }
        LabeledImages shuffled = shuffle(all, new Random(seed ^ 0x5eedL));
        if (limit != null) {
            shuffled = shuffled.limit(limit + validationSize);
        }
        if (validationSize >= shuffled.count()) {
            throw new IllegalArgumentException("validation size " + validationSize + " leaves no training images (have "
                    + shuffled.count() + ")");
        }
        return new DataSplit(all, shuffled.slice(validationSize, shuffled.count()), shuffled.slice(0, validationSize));
    }

    /** A copy of {@code in} in a random order drawn from {@code rng}. */
    public static LabeledImages shuffle(LabeledImages in, Random rng) {
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
}
