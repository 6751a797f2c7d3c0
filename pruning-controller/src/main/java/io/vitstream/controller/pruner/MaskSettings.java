package io.vitstream.controller.pruner;

/**
 * The mask search of {@code vit-slim} and {@code x-pruner} ({@link MaskSearch}).
 *
 * @param epochs passes over the search images
 * @param images search images, the first of the fine-tuning part of the training split (never validation or test)
 * @param learningRate the masks' own Adam learning rate (the weights, where they train, use the fine-tune's)
 * @param l1Scale factor on the L1 weights scaled from the authors' ({@link MaskSearch#scaledL1})
 */
public record MaskSettings(int epochs, int images, double learningRate, double l1Scale) {
    public static final int DEFAULT_EPOCHS = 1;
    public static final int DEFAULT_IMAGES = 10_000;
    public static final double DEFAULT_LEARNING_RATE = 0.01;
    public static final double DEFAULT_L1_SCALE = 1.0;
    public static final MaskSettings DEFAULTS = new MaskSettings(DEFAULT_EPOCHS, DEFAULT_IMAGES,
            DEFAULT_LEARNING_RATE, DEFAULT_L1_SCALE);

    public MaskSettings {
        if (epochs < 1) {
            throw new IllegalArgumentException("mask-search epochs must be positive, got " + epochs);
        }
        if (images < 1) {
            throw new IllegalArgumentException("mask-search images must be positive, got " + images);
        }
        if (!(learningRate > 0 && learningRate < 1)) {
            throw new IllegalArgumentException("mask learning rate must be in (0, 1), got " + learningRate);
        }
        if (!(l1Scale >= 0 && l1Scale <= 1000)) {
            throw new IllegalArgumentException("mask L1 scale must be in [0, 1000], got " + l1Scale);
        }
    }
}
