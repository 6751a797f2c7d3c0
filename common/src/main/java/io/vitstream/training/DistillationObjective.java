package io.vitstream.training;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.ParameterStore;
import io.vitstream.model.VisionTransformer;
import io.vitstream.model.VitModel;

/**
 * Knowledge distillation from a frozen teacher of any architecture with the same classes (Hinton et al.):
 * {@code (1 - w) * CE(labels) + w * T^2 * KL(softmax(teacher / T) || softmax(student / T))}. The T^2 factor keeps the
 * KL gradients on the scale of the cross-entropy's as T grows. The teacher runs dense and without gradients.
 */
public final class DistillationObjective implements Objective {
    private final VisionTransformer teacher;
    private final float temperature;
    private final float weight;
    private final LabelSmoothingLoss ce;

    /**
     * @param temperature softening temperature, at least 1
     * @param weight share of the distillation term in [0, 1]
     */
    public DistillationObjective(VitModel teacher, double temperature, double weight, float labelSmoothing) {
        if (!(temperature >= 1)) {
            throw new IllegalArgumentException("distillation temperature must be >= 1, got " + temperature);
        }
        if (!(weight >= 0 && weight <= 1)) {
            throw new IllegalArgumentException("distillation weight must be in [0, 1], got " + weight);
        }
        this.teacher = teacher.network();
        this.teacher.freezeParameters(true);
        this.temperature = (float) temperature;
        this.weight = (float) weight;
        this.ce = new LabelSmoothingLoss(labelSmoothing);
    }

    @Override
    public NDArray loss(NDList outputs, NDArray pixels, NDArray labels) {
        NDArray logits = outputs.get(0);
        NDArray loss = ce.evaluate(new NDList(labels), new NDList(logits)).mul(1 - weight);
        if (weight == 0) {
            return loss;
        }
        NDArray teacherLogits = teacherLogits(pixels);
        NDArray t = teacherLogits.div(temperature).logSoftmax(1);
        NDArray s = logits.div(temperature).logSoftmax(1);
        NDArray kl = t.exp().mul(t.sub(s)).sum(new int[] {1}).mean();
        return loss.add(kl.mul(weight * temperature * temperature));
    }

    private NDArray teacherLogits(NDArray pixels) {
        ParameterStore ps = new ParameterStore(pixels.getManager(), false);
        return teacher.classify(ps, teacher.denseTokens(ps, pixels, false), false).stopGradient();
    }
}
