package io.vitstream.training;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.ParameterStore;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.VisionTransformer;
import io.vitstream.model.VitModel;
import java.util.List;
import java.util.Random;

/**
 * DynamicViT's training objective, over a range of keep ratios: per batch a target ratio r is drawn from the trained
 * range and given to the predictors; the loss is
 * {@code CE(labels) + ratioWeight * sum_s (mean keep at stage s - r^(s+1))^2 / S + klWeight * KL(teacher || student)
 * + tokenWeight * MSE(kept final tokens, teacher's)}, with the dense model as teacher.
 */
public final class DynamicVitObjective implements Objective {
    /** Loss weights (DynamicViT's defaults: ratio 2.0, KL 0.5, token distillation 0.5). */
    public record Weights(double ratio, double kl, double tokens) {}

    private float backboneLearningRateScale = 1f;

    private final VisionTransformer student;
    private final VisionTransformer teacher;
    private final double minRatio;
    private final double maxRatio;
    private final Weights weights;
    private final LabelSmoothingLoss ce;
    private final double validationRatio;
    private double ratio = 1.0;

    public DynamicVitObjective(VitModel student, VitModel teacher, Weights weights, float labelSmoothing,
            double validationRatio) {
        SparsifierConfig sp = student.network().sparsifier();
        if (sp == null || !sp.hasPredictors()) {
            throw new IllegalArgumentException("the student needs token predictors");
        }
        if (!teacher.config().equals(student.config())) {
            throw new IllegalArgumentException("teacher and student must share the architecture");
        }
        this.student = student.network();
        this.teacher = teacher.network();
        this.teacher.freezeParameters(true);
        this.minRatio = sp.minRatio();
        this.maxRatio = sp.maxRatio();
        this.weights = weights;
        this.ce = new LabelSmoothingLoss(labelSmoothing);
        this.validationRatio = validationRatio;
    }

    @Override
    public void beforeStep(Random rng) {
        ratio = minRatio + rng.nextDouble() * (maxRatio - minRatio);
        student.setSparseTraining(true, ratio);
    }

    @Override
    public NDArray loss(NDList outputs, NDArray pixels, NDArray labels) {
        NDArray logits = outputs.get(0);
        NDArray tokens = outputs.get(1);
        List<NDArray> policies = outputs.subNDList(2);
        // Teacher: dense, frozen, no gradient.
        ParameterStore ps = new ParameterStore(pixels.getManager(), false);
        NDArray t = teacher.denseTokens(ps, pixels, false);
        NDArray teacherLogits = teacher.classify(ps, t, false).stopGradient();
        NDArray teacherTokens = t.stopGradient();

        NDArray loss = ce.evaluate(new NDList(labels), new NDList(logits));
        NDArray ratioLoss = null;
        double target = 1.0;
        for (NDArray policy : policies) {
            target *= ratio;
            NDArray term = policy.mean(new int[] {1}).sub((float) target).square().mean();
            ratioLoss = ratioLoss == null ? term : ratioLoss.add(term);
        }
        if (ratioLoss != null) {
            loss = loss.add(ratioLoss.div((float) policies.size()).mul((float) weights.ratio()));
        }
        NDArray teacherLogProb = teacherLogits.logSoftmax(1);
        NDArray kl = teacherLogProb.exp().mul(teacherLogProb.sub(logits.logSoftmax(1))).sum(new int[] {1}).mean();
        loss = loss.add(kl.mul((float) weights.kl()));
        NDArray mask = policies.isEmpty() ? tokens.get(":, 1:, 0").onesLike() : policies.get(policies.size() - 1);
        NDArray perToken = tokens.get(":, 1:, :").sub(teacherTokens.get(":, 1:, :")).square().mean(new int[] {2});
        NDArray tokenLoss = perToken.mul(mask).sum().div(mask.sum().add(1e-6f));
        return loss.add(tokenLoss.mul((float) weights.tokens()));
    }

    /**
     * Learning-rate factor of the pretrained backbone relative to the new predictors (DynamicViT trains the backbone
     * slower than the predictors).
     */
    public DynamicVitObjective withBackboneLearningRateScale(float scale) {
        if (!(scale > 0 && scale <= 1)) {
            throw new IllegalArgumentException("backbone learning-rate scale must be in (0, 1], got " + scale);
        }
        this.backboneLearningRateScale = scale;
        return this;
    }

    @Override
    public float learningRateScale(String parameterName) {
        return parameterName.startsWith("predictor") ? 1f : backboneLearningRateScale;
    }

    @Override
    public KeepPolicy validationPolicy() {
        return KeepPolicy.learned(validationRatio);
    }

    @Override
    public void finish() {
        student.setSparseTraining(false, 1.0);
    }
}
