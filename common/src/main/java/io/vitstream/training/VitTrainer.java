package io.vitstream.training;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.ParameterTracker;
import io.vitstream.data.Augmenter;
import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.evaluation.EvalResult;
import io.vitstream.evaluation.Evaluator;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/** Supervised training of a {@link VitModel} on labelled grey images. */
public final class VitTrainer {

    /** Per-epoch outcome. {@code validationAccuracy} is NaN when there is no validation split. */
    public record EpochStats(
            int epoch, double trainLoss, double trainAccuracy, double validationAccuracy, double imagesPerSecond,
            double seconds, float learningRate) {}

    /** Called after every epoch (checkpointing, logging, early stopping). */
    @FunctionalInterface
    public interface EpochListener {
        void onEpoch(EpochStats stats);

        /** After every step (0-based epoch and step), for progress reporting; cheap implementations only. */
        default void onStep(int epoch, int step, int stepsPerEpoch, double meanLoss) {}

        /** Asked after {@link #onEpoch}: true ends training early (for example no validation gain for a while). */
        default boolean shouldStop() {
            return false;
        }
    }

    private VitTrainer() {}

    /**
     * Trains {@code model} in place for epochs {@code startEpoch .. options.epochs()-1} (0-based; a resumed run starts
     * later and the schedule continues where it stopped).
     *
     * @param validation may be null or empty
     * @return stats of the last epoch
     */
    public static EpochStats train(
            VitModel model, InputSpec input, LabeledImages train, LabeledImages validation, TrainOptions options,
            int startEpoch, boolean showProgress, EpochListener listener) {
        return train(model, input, train, validation, options, startEpoch, showProgress, listener,
                Objective.crossEntropy(options.labelSmoothing()));
    }

    /** As above, minimising {@code objective} (for example DynamicViT's distillation objective). */
    public static EpochStats train(
            VitModel model, InputSpec input, LabeledImages train, LabeledImages validation, TrainOptions options,
            int startEpoch, boolean showProgress, EpochListener listener, Objective objective) {
        if (train.count() < 1) {
            throw new IllegalArgumentException("no training images");
        }
        if (startEpoch < 0 || startEpoch >= options.epochs()) {
            throw new IllegalArgumentException("start epoch " + startEpoch + " outside 0.." + (options.epochs() - 1));
        }
        int batch = Math.min(options.batchSize(), train.count());
        int stepsPerEpoch = train.count() / batch; // full batches only (see TrainingBatches)
        int totalSteps = stepsPerEpoch * options.epochs();
        int warmup = Math.round(options.warmupEpochs() * stepsPerEpoch);
        WarmupCosine schedule = new WarmupCosine(options.learningRate(), options.minLearningRate(), warmup, totalSteps,
                startEpoch * stepsPerEpoch);
        // DJL asks the tracker per parameter id; map ids to the objective's per-name scale once.
        Map<String, Float> scaleById = new HashMap<>();
        model.namedParameters().forEach((name, p) -> scaleById.put(p.getId(), objective.learningRateScale(name)));
        ParameterTracker perParameter = (id, n) -> schedule.getNewValue(n) * scaleById.getOrDefault(id, 1f);
        DefaultTrainingConfig config = new DefaultTrainingConfig(new LabelSmoothingLoss(options.labelSmoothing()))
                .optOptimizer(Optimizer.adamW()
                        .optLearningRateTracker(perParameter)
                        .optWeightDecays(options.weightDecay())
                        .build());
        VitConfig arch = model.config();
        Random rng = new Random(options.seed() + 7919L * startEpoch);
        Augmenter augmenter = new Augmenter(options.maxShift(), options.flip());
        EpochStats last = null;
        NDManager root = model.djlModel().getNDManager();
        try (NDManager keep = root.newSubManager()) {
            NDList weights = model.exportWeights(keep);
            try (Trainer trainer = model.djlModel().newTrainer(config)) {
                trainer.initialize(model.network().inputShape(batch));
                // Trainer.initialize may re-initialise parameters; put the model's own weights back.
                model.importWeights(weights, "in-memory weights");
                weights.close();
                TrainingBatches batches = new TrainingBatches(train, input, augmenter, batch, rng);
                for (int epoch = startEpoch; epoch < options.epochs(); epoch++) {
                    batches.shuffle();
                    long start = System.nanoTime();
                    double lossSum = 0;
                    long correct = 0;
                    long seen = 0;
                    ProgressBar bar = showProgress
                            ? new ProgressBar(String.format(Locale.ROOT, "epoch %d/%d", epoch + 1, options.epochs()),
                                    stepsPerEpoch)
                            : null;
                    for (int step = 0; step < stepsPerEpoch; step++) {
                        batches.fill(step);
                        float[] pixels = batches.pixels();
                        int[] labels = batches.labels();
                        float loss;
                        float[] logits;
                        objective.beforeStep(rng);
                        try (NDManager scope = trainer.getManager().newSubManager()) {
                            NDArray x = scope.create(pixels, new Shape(batch, arch.channels(), arch.imageSize(),
                                    arch.imageSize()));
                            NDArray y = scope.create(labels);
                            try (GradientCollector collector = trainer.newGradientCollector()) {
                                objective.beforeForward(x, y);
                                NDList outputs = trainer.forward(new NDList(x));
                                NDArray out = outputs.get(0);
                                NDArray l = objective.loss(outputs, x, y);
                                collector.backward(l);
                                loss = l.getFloat();
                                logits = out.toFloatArray();
                            }
                            trainer.step();
                            objective.afterStep();
                        }
                        if (!Float.isFinite(loss)) {
                            throw new IllegalStateException("training diverged: loss " + loss + " at epoch "
                                    + (epoch + 1) + " step " + step + " (try a lower --lr)");
                        }
                        lossSum += loss;
                        correct += countCorrect(logits, labels, arch.numClasses());
                        seen += batch;
                        if (listener != null) {
                            listener.onStep(epoch, step, stepsPerEpoch, lossSum / (step + 1));
                        }
                        if (bar != null) {
                            bar.update(step + 1, seen, String.format(Locale.ROOT, "loss %.4f acc %.4f",
                                    lossSum / (step + 1), (double) correct / seen));
                        }
                    }
                    double secs = (System.nanoTime() - start) / 1e9;
                    double valAcc = Double.NaN;
                    if (validation != null && validation.count() > 0) {
                        EvalResult r = Evaluator.evaluate(model, input, validation, 256, objective.validationPolicy());
                        valAcc = r.accuracy();
                    }
                    last = new EpochStats(epoch + 1, lossSum / stepsPerEpoch, (double) correct / seen, valAcc,
                            seen / secs, secs, schedule.getNewValue((epoch + 1) * stepsPerEpoch - 1
                                    - startEpoch * stepsPerEpoch));
                    if (listener != null) {
                        listener.onEpoch(last);
                        if (listener.shouldStop()) {
                            break;
                        }
                    }
                }
            }
        }
        objective.finish();
        return last;
    }

    static int countCorrect(float[] logits, int[] labels, int classes) {
        int correct = 0;
        for (int i = 0; i < labels.length; i++) {
            int best = 0;
            for (int c = 1; c < classes; c++) {
                if (logits[i * classes + c] > logits[i * classes + best]) {
                    best = c;
                }
            }
            if (best == labels[i]) {
                correct++;
            }
        }
        return correct;
    }
}
