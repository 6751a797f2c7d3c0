package io.vitstream.cli;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.evaluation.EvalResult;
import io.vitstream.evaluation.Evaluator;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.VitModel;
import io.vitstream.training.DynamicVitObjective;
import io.vitstream.training.ProgressBar;
import io.vitstream.training.TrainOptions;
import io.vitstream.training.VitTrainer;
import io.vitstream.util.Seeds;
import io.vitstream.util.UserError;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code vitstream train-sparse}: DynamicViT fine-tuning of a dense model into one with a live keep-ratio knob. */
@Command(name = "train-sparse", mixinStandardHelpOptions = true,
        description = {
            "Add DynamicViT token predictors to a dense model and fine-tune it, distilling from the dense model,",
            "over a range of keep ratios so that one model serves every ratio in that range at inference.",
            "Writes a model artifact whose manifest records the sparsifier; evaluate it with --keep-ratio."
        })
final class TrainSparseCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--teacher", defaultValue = "${sys:vitstream.home:-.}/models/base",
            description = "Dense model to start from and distil from (default: ${DEFAULT-VALUE}).")
    Path teacher;

    @Option(names = "--out", required = true, description = "Output model directory.")
    Path out;

    @Mixin
    DataOptions data;

    @Option(names = "--epochs", defaultValue = "3", description = "Epochs (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--batch", defaultValue = "128", description = "Batch size (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--lr", defaultValue = "0.001", description = "Peak learning rate of the token predictors (default: ${DEFAULT-VALUE}).")
    float lr;

    @Option(names = "--backbone-lr-scale", defaultValue = "0.2",
            description = "Backbone learning rate as a fraction of --lr (default: ${DEFAULT-VALUE}).")
    float backboneLrScale;

    @Option(names = "--min-ratio", defaultValue = "0.5", description = "Lowest trained keep ratio (default: ${DEFAULT-VALUE}).")
    double minRatio;

    @Option(names = "--max-ratio", defaultValue = "1.0", description = "Highest trained keep ratio (default: ${DEFAULT-VALUE}).")
    double maxRatio;

    @Option(names = "--stages", split = ",",
            description = "Block indices before which tokens are selected (default: first block dense, then three stages: 1,2,3 for depth 6).")
    List<Integer> stages;

    @Option(names = "--predictor-hidden", defaultValue = "48",
            description = "Hidden width of each token predictor, a multiple of 4 (default: ${DEFAULT-VALUE}).")
    int predictorHidden;

    @Option(names = "--ratio-weight", defaultValue = "2.0", description = "Keep-ratio loss weight (default: ${DEFAULT-VALUE}).")
    double ratioWeight;

    @Option(names = "--kl-weight", defaultValue = "0.5", description = "Logit distillation weight (default: ${DEFAULT-VALUE}).")
    double klWeight;

    @Option(names = "--token-weight", defaultValue = "0.5", description = "Token distillation weight (default: ${DEFAULT-VALUE}).")
    double tokenWeight;

    @Option(names = "--validation-ratio", defaultValue = "0.7",
            description = "Keep ratio at which validation accuracy is reported each epoch (default: ${DEFAULT-VALUE}).")
    double validationRatio;

    @Option(names = "--seed", defaultValue = "42", description = "Random seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--val-size", defaultValue = "5000", description = "Validation images (default: ${DEFAULT-VALUE}).")
    int valSize;

    @Option(names = "--limit", description = "Use only N training images (quick runs).")
    Integer limit;

    @Option(names = "--test-limit", description = "Evaluate the result on only the first N test images.")
    Integer testLimit;

    @Option(names = "--model-version", description = "Version id of the new model (default: <teacher version>-sparse).")
    String version;

    @Option(names = "--quiet", description = "No progress bar.")
    boolean quiet;

    @Override
    public Integer call() {
        TrainOptions options = new TrainOptions(epochs, batch, lr, lr / 100, 0.05f, Math.min(0.5f, epochs), 0.1f, 2,
                true, seed);
        KeepPolicy.learned(validationRatio);
        DataOptions.Split split = data.trainAndValidation(valSize, limit, seed);
        Seeds.seedAll(seed);
        try (ModelArtifact.Loaded dense = ModelArtifact.load(teacher)) {
            Manifest tm = dense.manifest();
            if (tm.sparsifier() != null) {
                throw new UserError("--teacher " + teacher + " already has a sparsifier; start from a dense model");
            }
            SparsifierConfig sparsifier = new SparsifierConfig(
                    stages != null ? stages : SparsifierConfig.defaultStages(tm.architecture().depth()),
                    predictorHidden, minRatio, maxRatio);
            InputSpec input = tm.input();
            try (VitModel student = VitModel.create(tm.architecture(), sparsifier);
                    NDManager scope = dense.model().djlModel().getNDManager().newSubManager()) {
                NDList weights = dense.model().exportWeights(scope);
                student.importWeights(weights, teacher.toString(), true);
                String id = version != null ? version : tm.version() + "-sparse";
                Map<String, Object> recipe = new LinkedHashMap<>();
                recipe.put("command", Invocation.of(spec));
                recipe.put("method", "DynamicViT: Gumbel-softmax keep decisions, attention masking, ratio-conditioned "
                        + "predictors, keep-ratio loss, logit KL + kept-token MSE distillation from the teacher");
                recipe.put("teacher", tm.version());
                recipe.put("loss_weights", Map.of("ratio", ratioWeight, "kl", klWeight, "tokens", tokenWeight));
                recipe.put("epochs", epochs);
                recipe.put("learning_rate", lr);
                recipe.put("backbone_learning_rate_scale", backboneLrScale);
                recipe.put("train_images", split.train().count());
                recipe.put("validation_images", split.validation().count());
                Manifest base = new Manifest(Manifest.FORMAT_VERSION, id, tm.version(), tm.architecture(),
                        tm.classNames(), input, 0, 0, null, null, recipe, null, Instant.now().toString(), sparsifier);
                Path checkpoint = out.resolve("checkpoint");
                DynamicVitObjective objective = new DynamicVitObjective(student, dense.model(),
                        new DynamicVitObjective.Weights(ratioWeight, klWeight, tokenWeight), 0.1f, validationRatio)
                        .withBackboneLearningRateScale(backboneLrScale);
                System.err.printf(Locale.ROOT, "sparse training %s from %s: stages %s, ratios [%.2f, %.2f]%n", id,
                        tm.version(), sparsifier.stages(), minRatio, maxRatio);
                VitTrainer.EpochStats last = VitTrainer.train(student, input, split.train(), split.validation(),
                        options, 0, !quiet, stats -> {
                            System.err.printf(Locale.ROOT,
                                    "epoch %d/%d: loss %.4f train acc %.4f val acc @%.2f %.4f (%.0f img/s, %s)%n",
                                    stats.epoch(), epochs, stats.trainLoss(), stats.trainAccuracy(), validationRatio,
                                    stats.validationAccuracy(), stats.imagesPerSecond(),
                                    ProgressBar.formatDuration(stats.seconds()));
                            ModelArtifact.save(checkpoint, student, base.withAccuracy(null, stats.validationAccuracy()));
                        }, objective);
                LabeledImages test = data.test(input.height());
                if (testLimit != null) {
                    test = test.limit(testLimit);
                }
                Map<String, Double> byRatio = new LinkedHashMap<>();
                for (double r : new double[] {1.0, 0.7, 0.5}) {
                    EvalResult res = Evaluator.evaluate(student, input, test, 256, KeepPolicy.learned(r));
                    byRatio.put(String.format(Locale.ROOT, "%.1f", r), res.accuracy());
                }
                recipe.put("test_accuracy_by_keep_ratio", byRatio);
                recipe.put("test_images", test.count());
                ModelArtifact.save(out, student, base.withAccuracy(byRatio.get("1.0"), last.validationAccuracy()));
                System.err.printf(Locale.ROOT, "wrote %s: test accuracy by keep ratio %s%n", out, byRatio);
            }
        }
        return 0;
    }
}
