package io.vitstream.training;

/**
 * Recipe for supervised training: AdamW with linear warm-up and cosine decay, label smoothing and light augmentation.
 *
 * @param maxShift augmentation: random translation in pixels (0 = off)
 * @param flip augmentation: random horizontal flip
 */
public record TrainOptions(
        int epochs,
        int batchSize,
        float learningRate,
        float minLearningRate,
        float weightDecay,
        float warmupEpochs,
        float labelSmoothing,
        int maxShift,
        boolean flip,
        long seed) {

    public TrainOptions {
        require(epochs >= 1, "epochs must be at least 1, got " + epochs);
        require(batchSize >= 1, "batch size must be positive, got " + batchSize);
        require(learningRate > 0 && learningRate < 1, "learning rate must be in (0, 1), got " + learningRate);
        require(minLearningRate >= 0 && minLearningRate <= learningRate,
                "min learning rate must be in [0, lr], got " + minLearningRate);
        require(weightDecay >= 0, "weight decay must be >= 0, got " + weightDecay);
        require(warmupEpochs >= 0 && warmupEpochs <= epochs, "warm-up epochs must be in [0, epochs], got " + warmupEpochs);
        require(labelSmoothing >= 0 && labelSmoothing < 1, "label smoothing must be in [0, 1), got " + labelSmoothing);
        require(maxShift >= 0 && maxShift < 8, "max shift must be in [0, 8), got " + maxShift);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
