package io.vitstream.training;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.loss.Loss;

/**
 * Softmax cross-entropy against label-smoothed targets: {@code (1 - eps) * onehot + eps / K}. Labels (B) int,
 * predictions (B, K) logits; returns the batch mean.
 */
public final class LabelSmoothingLoss extends Loss {
    private final float smoothing;

    public LabelSmoothingLoss(float smoothing) {
        super("label_smoothing_ce");
        if (smoothing < 0 || smoothing >= 1) {
            throw new IllegalArgumentException("label smoothing must be in [0, 1), got " + smoothing);
        }
        this.smoothing = smoothing;
    }

    @Override
    public NDArray evaluate(NDList labels, NDList predictions) {
        NDArray logits = predictions.singletonOrThrow();
        int classes = (int) logits.getShape().get(1);
        NDArray logProb = logits.logSoftmax(1);
        NDArray target = labels.singletonOrThrow().oneHot(classes).mul(1 - smoothing).add(smoothing / classes);
        return logProb.mul(target).sum(new int[] {1}).neg().mean();
    }
}
