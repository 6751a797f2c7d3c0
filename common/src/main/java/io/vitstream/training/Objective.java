package io.vitstream.training;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import io.vitstream.model.KeepPolicy;
import java.util.Random;

/** What a training step minimises; {@link VitTrainer} runs the loop, the objective supplies the loss. */
public interface Objective {
    /** Called before each step, for example to sample a keep ratio for this batch. */
    default void beforeStep(Random rng) {}

    /**
     * Called inside the step's gradient recording, before the forward pass, with the batch (pixels (B, C, H, W), labels
     * (B)): for example to set gates that depend on the labels and must reach the backward pass.
     */
    default void beforeForward(NDArray pixels, NDArray labels) {}

    /** Called after the optimiser's step, for example to update arrays the objective trains itself. */
    default void afterStep() {}

    /**
     * Loss of one batch (a scalar with gradients).
     *
     * @param outputs the training forward pass's outputs; {@code outputs.get(0)} are the logits (B, K)
     */
    NDArray loss(NDList outputs, NDArray pixels, NDArray labels);

    /** Policy under which validation accuracy is measured after each epoch. */
    default KeepPolicy validationPolicy() {
        return KeepPolicy.dense();
    }

    /** Factor on the learning rate of the parameter with this stable name (for example a slower backbone). */
    default float learningRateScale(String parameterName) {
        return 1f;
    }

    /** Called once after the last step. */
    default void finish() {}

    /** Plain supervised training: label-smoothed cross-entropy. */
    static Objective crossEntropy(float labelSmoothing) {
        LabelSmoothingLoss ce = new LabelSmoothingLoss(labelSmoothing);
        return (outputs, pixels, labels) -> ce.evaluate(new NDList(labels), new NDList(outputs.get(0)));
    }
}
