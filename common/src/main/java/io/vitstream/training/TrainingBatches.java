package io.vitstream.training;

import io.vitstream.data.Augmenter;
import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import java.util.Random;

/**
 * Epochs of shuffled, augmented, normalised full batches over a labelled set; reuses its buffers, so the arrays
 * returned are only valid until the next {@link #fill}.
 */
public final class TrainingBatches {
    private final LabeledImages data;
    private final InputSpec input;
    private final Augmenter augmenter;
    private final Random rng;
    private final int batch;
    private final int[] order;
    private final byte[] augmented;
    private final float[] pixels;
    private final int[] labels;

    public TrainingBatches(LabeledImages data, InputSpec input, Augmenter augmenter, int batch, Random rng) {
        if (data.count() < 1) {
            throw new IllegalArgumentException("no training images");
        }
        this.data = data;
        this.input = input;
        this.augmenter = augmenter;
        this.rng = rng;
        this.batch = Math.min(batch, data.count());
        this.order = new int[data.count()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        this.augmented = new byte[data.imageBytes()];
        this.pixels = new float[this.batch * input.pixels()];
        this.labels = new int[this.batch];
    }

    public int batchSize() {
        return batch;
    }

    /** Full batches per epoch (the ragged remainder is skipped; the shuffle moves it around). */
    public int stepsPerEpoch() {
        return data.count() / batch;
    }

    public void shuffle() {
        for (int i = order.length - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }

    /** Fills {@link #pixels()} and {@link #labels()} with batch number {@code step} of the current epoch. */
    public void fill(int step) {
        for (int i = 0; i < batch; i++) {
            int idx = order[step * batch + i];
            augmenter.apply(data.pixels(), idx * data.imageBytes(), data.height(), data.width(), augmented, rng);
            input.normalize(augmented, 0, pixels, i * input.pixels());
            labels[i] = data.labels()[idx];
        }
    }

    public float[] pixels() {
        return pixels;
    }

    public int[] labels() {
        return labels;
    }

    public Random rng() {
        return rng;
    }
}
