package io.vitstream.controller.pruner;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.DataSplit;
import io.vitstream.data.FashionMnist;
import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.engine.EngineOptions;
import io.vitstream.engine.InferenceEngine;
import io.vitstream.engine.factory.Engines;
import io.vitstream.evaluation.Evaluator;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.VitModel;
import io.vitstream.training.DistillationObjective;
import io.vitstream.training.DynamicVitObjective;
import io.vitstream.training.TrainOptions;
import io.vitstream.training.VitTrainer;
import io.vitstream.util.FileTrees;
import io.vitstream.util.Seeds;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * The whole structured re-pruning job: saliency on a calibration set, a FLOPs-budgeted plan, physical slicing,
 * distillation fine-tuning (with early stopping on the validation split and a checkpoint per epoch), a brief re-fit of
 * the token predictors where the parent has them, evaluation, save. Blocking; runs in the caller's thread; needs no
 * Kafka.
 */
public final class PruneJob {
    /** Token-predictor re-fit after the backbone fine-tune: one epoch over at most this many images. */
    static final int REFIT_IMAGES = 20_000;
    static final float REFIT_LEARNING_RATE = 1e-3f;
    static final float REFIT_BACKBONE_SCALE = 0.1f;
    /** Keep ratio at which a model with predictors is also validated and tested. */
    static final double SPARSE_CHECK_RATIO = 0.7;

    private PruneJob() {}

    public static PruneResult run(PruneRequest request, PruneProgress progress) throws Exception {
        return run(request, progress, false);
    }

    /** As {@link #run(PruneRequest, PruneProgress)}; with {@code progressBar}, training shows its bar on stderr. */
    public static PruneResult run(PruneRequest request, PruneProgress progress, boolean progressBar) throws Exception {
        return run(request, progress, progressBar, null);
    }

    /**
     * As above, ranking by {@code precomputed} saliency scores of the parent when given (benchmarks compare the
     * measures at one budget without estimating them three times); null estimates them.
     */
    public static PruneResult run(PruneRequest request, PruneProgress progress, boolean progressBar,
            SaliencyScores precomputed) throws Exception {
        validate(request);
        PruneSettings s = request.settings();
        long started = System.nanoTime();
        Seeds.seedAll(s.seed());
        DataSplit split = split(s);
        LabeledImages calibration = calibration(split, s);
        try (ModelArtifact.Loaded parent = ModelArtifact.load(request.parent())) {
            Manifest pm = parent.manifest();
            InputSpec input = pm.input();
            SaliencyScores scores = precomputed != null ? precomputed
                    : saliency(parent.model(), input, calibration, java.util.Set.of(request.saliency()), s, progress);
            try {
                return pruneWith(request, progress, progressBar, scores, parent, split, calibration, started);
            } finally {
                if (precomputed == null) {
                    scores.closeMasks();
                }
            }
        }
    }

    /** Plan, slice, fine-tune, evaluate and save, ranking by {@code scores}. */
    private static PruneResult pruneWith(PruneRequest request, PruneProgress progress, boolean progressBar,
            SaliencyScores scores, ModelArtifact.Loaded parent, DataSplit split, LabeledImages calibration,
            long started) throws Exception {
        PruneSettings s = request.settings();
        Manifest pm = parent.manifest();
        InputSpec input = pm.input();
        long flopsBefore = pm.flopsPerImage();
        long target = Math.round(request.flopsRatio() * flopsBefore);
        PrunePlan plan = PrunePlanner.plan(pm.architecture(), pm.sparsifier(), scores, request.saliency(), target);
        progress.update("plan", 0.15, String.format(Locale.ROOT, "%d groups removed, FLOPs %.2fM -> %.2fM",
                plan.removed().size(), flopsBefore / 1e6, plan.flopsAfter() / 1e6));
        Map<String, Object> recipe = new LinkedHashMap<>();
        try (VitModel student = slice(parent.model(), plan, scores, recipe)) {
            progress.update("slice", 0.18, "sliced: " + student.parameterCount() + " parameters");
            double valBefore = accuracy(student, input, split.validation(), KeepPolicy.dense(), s);
            recipe.put("method", "structured pruning: saliency-ranked heads, MLP neurons, blocks and stem channels"
                    + " under a FLOPs budget, physical slicing, knowledge-distillation fine-tuning from the parent");
            if (scores.hessian() != null) {
                recipe.put("hessian_diagonal", Map.of("estimator", "Hutchinson: mean of z * Hz over Rademacher z,"
                        + " Hz = (g(w + e z) - g(w - e z)) / (2e), g the mean calibration-loss gradient",
                        "probes", scores.hessian().probes(), "step", scores.hessian().step(),
                        "relative_step", HessianDiagonal.RELATIVE_STEP));
            }
            MaskSearch.Result masks = scores.masks().get(request.saliency());
            if (masks != null) {
                recipe.put("mask_search", masks.report());
            }
            recipe.put("parent", pm.version());
            recipe.put("flops_ratio_requested", request.flopsRatio());
            recipe.put("pruning", plan.toManifest());
            recipe.put("saliency_side_by_side", sideBySide(scores));
            recipe.put("calibration_images", calibration.count());
            recipe.put("validation_images", split.validation().count());
            recipe.put("train_images", split.train().count());
            recipe.put("validation_accuracy_before_fine_tune", valBefore);
            Manifest draft = new Manifest(Manifest.FORMAT_VERSION, request.newVersion(), pm.version(),
                    plan.after(), pm.classNames(), input, 0, 0, null, null, recipe, null,
                    Instant.now().toString(), plan.sparsifierAfter());
            double valAfter = valBefore;
            if (s.epochs() > 0) {
                valAfter = fineTune(student, parent.model(), input, split, s, request.out(), draft, recipe,
                        progress, progressBar);
                if (!student.network().predictors().isEmpty()) {
                    refitPredictors(student, input, split, s, recipe, progress, progressBar);
                    // The re-fit moves the backbone a little too: the recorded accuracy is the final model's.
                    recipe.put("validation_accuracy_before_refit", valAfter);
                    valAfter = accuracy(student, input, split.validation(), KeepPolicy.dense(), s);
                }
            }
            progress.update("evaluate", 0.93, "evaluating on the test set");
            LabeledImages test = FashionMnist.load(s.dataDir(), FashionMnist.Split.TEST);
            double testAcc = accuracy(student, input, test, KeepPolicy.dense(), s);
            recipe.put("test_images", test.count());
            if (!student.network().predictors().isEmpty()) {
                recipe.put("test_accuracy_at_keep_" + SPARSE_CHECK_RATIO,
                        accuracy(student, input, test, KeepPolicy.learned(SPARSE_CHECK_RATIO), s));
            }
            recipe.put("wall_seconds", Math.round((System.nanoTime() - started) / 1e9));
            progress.update("save", 0.98, "writing " + request.out());
            Manifest written = ModelArtifact.save(request.out(), student, draft.withAccuracy(testAcc, valAfter));
            FileTrees.delete(request.out().resolve("checkpoint"));
            if (masks != null && masks.method() == Saliency.Method.X_PRUNER) {
                MaskHeatMap.write(request.out().resolve(MaskHeatMap.FILE), masks, pm.architecture(),
                        pm.classNames());
            }
            progress.update("done", 1.0, String.format(Locale.ROOT,
                    "%s: FLOPs %.1f%% of %s, validation accuracy %.4f (before fine-tune %.4f), test %.4f",
                    request.newVersion(), 100 * plan.flopsRatio(), pm.version(), valAfter, valBefore, testAcc));
            return new PruneResult(request.out(), written, flopsBefore, plan.flopsAfter(), valAfter, valBefore,
                    plan, scores);
        }
    }

    /** Taylor, Fisher and OBD saliency of the parent on the calibration slice the job itself would use. */
    public static SaliencyScores saliency(VitModel parent, InputSpec input, LabeledImages calibration,
            PruneProgress progress) {
        return saliency(parent, input, calibration, java.util.Set.of(), null, progress);
    }

    /**
     * Taylor, Fisher and OBD (one pass, always: they are recorded side by side), and the Hessian diagonal and CAP
     * where {@code measures} holds them (their own passes; {@code s} gives their probes, seed and damping), on
     * {@code calibration}, reporting progress over the job's first 15%.
     */
    public static SaliencyScores saliency(VitModel parent, InputSpec input, LabeledImages calibration,
            java.util.Set<Saliency.Method> measures, PruneSettings s, PruneProgress progress) {
        boolean hessian = measures.contains(Saliency.Method.HESSIAN);
        boolean cap = measures.contains(Saliency.Method.CAP);
        List<Saliency.Method> searches = measures.stream().filter(Saliency.Method::searchesMasks).sorted().toList();
        double share = 0.15 / (1 + (hessian ? 1 : 0) + (cap ? 1 : 0) + searches.size());
        double from = 0;
        progress.update("saliency", 0, "estimating saliency on " + calibration.count() + " calibration images");
        SaliencyScores scores = SaliencyEstimator.estimate(parent, input, calibration,
                percent(progress, "saliency", "saliency", from, share));
        if (hessian) {
            from += share;
            progress.update("hessian", from, "Hessian diagonal: " + s.hessianProbes() + " Hutchinson probes, "
                    + 2 * s.hessianProbes() + " gradient passes over " + calibration.count() + " images");
            HessianDiagonal.Estimate d = HessianDiagonal.estimate(parent, input, calibration, s.hessianProbes(),
                    s.seed(), percent(progress, "hessian", "probes", from, share));
            scores = scores.withHessian(new SaliencyScores.Hessian(d.obdSaliency(parent, scores.groups()),
                    d.probes(), d.step()));
        }
        if (cap) {
            from += share;
            progress.update("cap", from, "CAP: fc2 and projection input Hessians on " + calibration.count()
                    + " images, then OBS removal order per layer");
            LayerInputHessians inputs = LayerInputHessians.collect(parent, input, calibration,
                    percent(progress, "cap", "layer inputs", from, share));
            scores = scores.withCap(new SaliencyScores.Cap(
                    CapPruner.scores(parent, inputs, s.capDamping(), scores.groups(), scores.obd()), inputs,
                    s.capDamping()));
        }
        if (!searches.isEmpty()) {
            DataSplit split = split(s);
            for (Saliency.Method m : searches) {
                from += share;
                LabeledImages images = split.train().limit(Math.min(s.masks().images(), split.train().count()));
                progress.update(m.id(), from, m.id() + " mask search: " + s.masks().epochs() + " epoch(s) on "
                        + images.count() + " images");
                scores = scores.withMasks(MaskSearch.search(m, parent, input, images, split.validation(), s,
                        percent(progress, m.id(), "mask search", from, share)));
            }
        }
        return scores;
    }

    /** A progress callback that reports each whole percent of one phase, mapped onto [from, from + share]. */
    private static java.util.function.DoubleConsumer percent(PruneProgress progress, String phase, String label,
            double from, double share) {
        int[] lastPercent = {-1};
        return f -> {
            int pct = (int) (f * 100);
            if (pct != lastPercent[0]) {
                lastPercent[0] = pct;
                progress.update(phase, from + share * f, label + " " + pct + "%");
            }
        };
    }

    /**
     * The plan's sliced model; for CAP, with its consuming layers corrected by the OBS step first (the correction's
     * per-layer report goes into {@code recipe} under {@code cap}, when {@code recipe} is not null).
     */
    public static VitModel slice(VitModel parent, PrunePlan plan, SaliencyScores scores, Map<String, Object> recipe) {
        if (plan.method() == Saliency.Method.VIT_SLIM) {
            // ViT-Slim slices its search-trained weights; kept gates are 1, that is, no gate at all.
            MaskSearch.Result r = scores.masks().get(Saliency.Method.VIT_SLIM);
            if (r == null || r.searched() == null) {
                throw new IllegalStateException("a vit-slim plan needs the search-trained model");
            }
            return ModelSlicer.slice(r.searched(), plan);
        }
        if (plan.method() != Saliency.Method.CAP) {
            return ModelSlicer.slice(parent, plan);
        }
        if (scores.cap() == null) {
            throw new IllegalStateException("a CAP plan needs the scores' layer-input Hessians");
        }
        CapPruner.Correction correction = CapPruner.correct(parent, plan, scores.cap().inputs(),
                scores.cap().damping());
        if (recipe != null) {
            recipe.put("cap", correction.toManifest());
        }
        return ModelSlicer.slice(parent, plan, correction.weights());
    }

    /** The calibration slice of the training split that {@link #run} uses for {@code settings}. */
    public static LabeledImages calibrationSet(PruneSettings s) {
        return calibration(split(s), s);
    }

    /** Validation and fine-tuning images: the same seeded split of the training data as training uses. */
    /** Top-1 accuracy of {@code model} on {@code data} at {@code policy}, on the job's evaluation engine. */
    private static double accuracy(VitModel model, InputSpec input, LabeledImages data, KeepPolicy policy,
            PruneSettings s) {
        try (InferenceEngine engine = Engines.open(model, EngineOptions.of(s.engine()))) {
            return Evaluator.evaluate(engine, model.config().numClasses(), input, data, 256, policy).accuracy();
        }
    }

    private static DataSplit split(PruneSettings s) {
        return DataSplit.of(FashionMnist.load(s.dataDir(), FashionMnist.Split.TRAIN), s.validationImages(),
                s.trainImages() == 0 ? null : s.trainImages(), s.seed());
    }

    /**
     * The first images of the fine-tuning part: training data (the parent has seen them), never the validation
     * images that choices are made on, never the test set.
     */
    private static LabeledImages calibration(DataSplit split, PruneSettings s) {
        return split.train().limit(Math.min(s.calibrationImages(), split.train().count()));
    }

    private static void validate(PruneRequest r) {
        if (!(r.flopsRatio() > 0 && r.flopsRatio() < 1)) {
            throw new IllegalArgumentException("FLOPs ratio must be in (0, 1), got " + r.flopsRatio());
        }
        if (r.newVersion() == null || r.newVersion().isBlank()) {
            throw new IllegalArgumentException("the new model needs a version");
        }
        PruneSettings s = r.settings();
        if (s.calibrationImages() < 1 || s.validationImages() < 1 || s.trainImages() < 0 || s.epochs() < 0
                || s.batchSize() < 1 || s.patience() < 1) {
            throw new IllegalArgumentException("prune settings out of range: " + s);
        }
        if (Files.isDirectory(r.out())) {
            try (Stream<Path> entries = Files.list(r.out())) {
                if (entries.anyMatch(p -> !p.getFileName().toString().equals("checkpoint"))) {
                    throw new IllegalArgumentException("output directory " + r.out() + " is not empty");
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** Distillation fine-tune of the backbone; returns the best validation accuracy, whose weights it leaves in place. */
    private static double fineTune(VitModel student, VitModel parent, InputSpec input, DataSplit split,
            PruneSettings s, Path out, Manifest draft, Map<String, Object> recipe, PruneProgress progress,
            boolean progressBar) {
        student.network().predictors().forEach(p -> p.freezeParameters(true)); // the dense path does not use them
        TrainOptions options = new TrainOptions(s.epochs(), s.batchSize(), (float) s.learningRate(),
                (float) s.learningRate() / 20, 0.05f, Math.min(0.3f, s.epochs()), 0f, 2, true, s.seed());
        DistillationObjective objective = new DistillationObjective(parent, s.temperature(), s.distillWeight(), 0f);
        Path checkpoint = out.resolve("checkpoint");
        try (NDManager keep = student.djlModel().getNDManager().newSubManager()) {
            BestEpoch best = new BestEpoch(s, student, keep, checkpoint, draft, progress);
            VitTrainer.train(student, input, split.train(), split.validation(), options, 0, progressBar, best,
                    objective);
            if (best.weights != null && !best.lastWasBest) {
                student.importWeights(best.weights, "best epoch " + best.epoch);
            }
            recipe.put("fine_tune", Map.of(
                    "epochs_requested", s.epochs(), "epochs_run", best.epochsRun, "best_epoch", best.epoch,
                    "learning_rate", s.learningRate(), "batch_size", s.batchSize(),
                    "distillation", Map.of("temperature", s.temperature(), "weight", s.distillWeight(),
                            "loss", "(1 - w) * CE(labels) + w * T^2 * KL(teacher_T || student_T)"),
                    "early_stop_patience", s.patience()));
            return best.accuracy;
        } finally {
            student.network().predictors().forEach(p -> p.freezeParameters(false));
        }
    }

    /** Tracks the best validation epoch, checkpoints every epoch, stops after {@code patience} epochs without gain. */
    private static final class BestEpoch implements VitTrainer.EpochListener {
        private final PruneSettings s;
        private final VitModel student;
        private final NDManager keep;
        private final Path checkpoint;
        private final Manifest draft;
        private final PruneProgress progress;
        NDList weights;
        double accuracy = -1;
        int epoch;
        int epochsRun;
        boolean lastWasBest;

        BestEpoch(PruneSettings s, VitModel student, NDManager keep, Path checkpoint, Manifest draft,
                PruneProgress progress) {
            this.s = s;
            this.student = student;
            this.keep = keep;
            this.checkpoint = checkpoint;
            this.draft = draft;
            this.progress = progress;
        }

        @Override
        public void onStep(int epochIndex, int step, int stepsPerEpoch, double meanLoss) {
            if (step % 20 == 0) {
                double f = (epochIndex + (double) step / stepsPerEpoch) / s.epochs();
                progress.update("fine-tune", 0.2 + 0.6 * f, String.format(Locale.ROOT,
                        "epoch %d/%d step %d/%d loss %.4f", epochIndex + 1, s.epochs(), step, stepsPerEpoch, meanLoss));
            }
        }

        @Override
        public void onEpoch(VitTrainer.EpochStats stats) {
            epochsRun = stats.epoch();
            ModelArtifact.save(checkpoint, student, draft.withAccuracy(null, stats.validationAccuracy()));
            lastWasBest = stats.validationAccuracy() > accuracy;
            if (lastWasBest) {
                accuracy = stats.validationAccuracy();
                epoch = stats.epoch();
                if (weights != null) {
                    weights.close();
                }
                weights = student.exportWeights(keep);
            }
            progress.update("fine-tune", 0.2 + 0.6 * stats.epoch() / s.epochs(), String.format(Locale.ROOT,
                    "epoch %d/%d: loss %.4f, validation accuracy %.4f (best %.4f at epoch %d)", stats.epoch(),
                    s.epochs(), stats.trainLoss(), stats.validationAccuracy(), accuracy, epoch));
        }

        @Override
        public boolean shouldStop() {
            return epochsRun - epoch >= s.patience();
        }
    }

    /**
     * One short DynamicViT epoch so that the carried-over token predictors match the fine-tuned backbone: the dense
     * fine-tuned model (a frozen copy) is the teacher, the backbone moves slowly.
     */
    private static void refitPredictors(VitModel student, InputSpec input, DataSplit split, PruneSettings s,
            Map<String, Object> recipe, PruneProgress progress, boolean progressBar) {
        progress.update("refit", 0.8, "re-fitting token predictors");
        LabeledImages images = split.train().limit(Math.min(REFIT_IMAGES, split.train().count()));
        try (VitModel teacher = VitModel.create(student.config(), student.network().sparsifier());
                NDManager scope = student.djlModel().getNDManager().newSubManager()) {
            teacher.importWeights(student.exportWeights(scope), "fine-tuned student");
            var sp = student.network().sparsifier();
            DynamicVitObjective objective = new DynamicVitObjective(student, teacher,
                    new DynamicVitObjective.Weights(2.0, 0.5, 0.5), 0.1f, SPARSE_CHECK_RATIO)
                    .withBackboneLearningRateScale(REFIT_BACKBONE_SCALE);
            TrainOptions options = new TrainOptions(1, s.batchSize(), REFIT_LEARNING_RATE, REFIT_LEARNING_RATE / 20,
                    0.05f, 0.1f, 0f, 2, true, s.seed() + 1);
            VitTrainer.EpochStats stats = VitTrainer.train(student, input, images, split.validation(), options, 0,
                    progressBar, new VitTrainer.EpochListener() {
                        @Override
                        public void onEpoch(VitTrainer.EpochStats e) {}

                        @Override
                        public void onStep(int epoch, int step, int steps, double loss) {
                            if (step % 20 == 0) {
                                progress.update("refit", 0.8 + 0.12 * step / steps,
                                        String.format(Locale.ROOT, "step %d/%d loss %.4f", step, steps, loss));
                            }
                        }
                    }, objective);
            recipe.put("predictor_refit", Map.of("images", images.count(), "epochs", 1,
                    "learning_rate", REFIT_LEARNING_RATE, "backbone_learning_rate_scale", REFIT_BACKBONE_SCALE,
                    "trained_ratio_range", java.util.List.of(sp.minRatio(), sp.maxRatio()),
                    "validation_accuracy_at_keep_" + SPARSE_CHECK_RATIO, stats.validationAccuracy()));
        }
    }

    /**
     * Head and block saliency by every measure estimated, and how well the measures' rankings agree (Spearman; with
     * CAP, over the heads and neurons only: it carries OBD's scores for the rest).
     */
    static Map<String, Object> sideBySide(SaliencyScores scores) {
        List<Saliency.Method> methods = Arrays.stream(Saliency.Method.values()).filter(scores::has).toList();
        Map<String, Object> out = new LinkedHashMap<>();
        Map<String, Object> groups = new LinkedHashMap<>();
        for (int g = 0; g < scores.groups().size(); g++) {
            Group group = scores.groups().get(g);
            if (group.kind() == Group.Kind.HEAD || group.kind() == Group.Kind.BLOCK) {
                Map<String, Object> byMethod = new LinkedHashMap<>();
                for (Saliency.Method m : methods) {
                    if (!unitsOnly(m) || group.kind() == Group.Kind.HEAD) {
                        byMethod.put(m.id(), scores.of(m)[g]);
                    }
                }
                groups.put(group.id(), byMethod);
            }
        }
        out.put("heads_and_blocks", groups);
        for (int a = 0; a < methods.size(); a++) {
            for (int b = a + 1; b < methods.size(); b++) {
                boolean cap = unitsOnly(methods.get(a)) || unitsOnly(methods.get(b));
                out.put("spearman_" + methods.get(a).id() + "_" + methods.get(b).id(), spearmanOver(scores,
                        scores.of(methods.get(a)), scores.of(methods.get(b)), cap));
            }
        }
        return out;
    }

    /** Measures that score heads and neurons only (CAP carries OBD's scores for the rest, mask methods none). */
    private static boolean unitsOnly(Saliency.Method m) {
        return m == Saliency.Method.CAP || m.searchesMasks();
    }

    /** Spearman over all groups, or over the heads and neurons only. */
    private static double spearmanOver(SaliencyScores scores, double[] a, double[] b, boolean headsAndNeurons) {
        int[] idx = IntStream.range(0, a.length).filter(i -> !headsAndNeurons
                || scores.groups().get(i).kind() == Group.Kind.HEAD
                || scores.groups().get(i).kind() == Group.Kind.NEURON).toArray();
        return Ranks.spearman(Arrays.stream(idx).mapToDouble(i -> a[i]).toArray(),
                Arrays.stream(idx).mapToDouble(i -> b[i]).toArray());
    }
}
