package io.vitstream.cli;

import com.fasterxml.jackson.core.type.TypeReference;
import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.evaluation.EvalResult;
import io.vitstream.evaluation.Evaluator;
import io.vitstream.model.FlopCounter;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import io.vitstream.training.TrainOptions;
import io.vitstream.training.VitTrainer;
import io.vitstream.util.Json;
import io.vitstream.util.Seeds;
import io.vitstream.util.UserError;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code vitstream train}: trains a dense ViT on Fashion-MNIST and writes a model artifact. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = {
            "Train a dense ViT on the Fashion-MNIST training set (minus a validation split) and write a model artifact.",
            "A checkpoint is written to OUT/checkpoint after every epoch; --resume continues from it.",
            "At the end the model is evaluated on the test set and the accuracy recorded in its manifest."
        })
final class TrainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--out", required = true, description = "Output model directory.")
    Path out;

    @Mixin
    DataOptions data;

    @Option(names = "--epochs", defaultValue = "30", description = "Epochs (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--batch", defaultValue = "128", description = "Batch size (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--lr", defaultValue = "0.002", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    float lr;

    @Option(names = "--min-lr", defaultValue = "0.00002", description = "Final learning rate (default: ${DEFAULT-VALUE}).")
    float minLr;

    @Option(names = "--weight-decay", defaultValue = "0.05", description = "AdamW weight decay (default: ${DEFAULT-VALUE}).")
    float weightDecay;

    @Option(names = "--warmup", defaultValue = "2", description = "Warm-up epochs (default: ${DEFAULT-VALUE}).")
    float warmup;

    @Option(names = "--label-smoothing", defaultValue = "0.1", description = "Label smoothing (default: ${DEFAULT-VALUE}).")
    float labelSmoothing;

    @Option(names = "--shift", defaultValue = "2", description = "Augmentation: max random shift in pixels, 0 = off (default: ${DEFAULT-VALUE}).")
    int shift;

    @Option(names = "--no-flip", description = "Augmentation: no random horizontal flips.")
    boolean noFlip;

    @Option(names = "--seed", defaultValue = "42", description = "Random seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--val-size", defaultValue = "5000",
            description = "Training images held out for validation (default: ${DEFAULT-VALUE}).")
    int valSize;

    @Option(names = "--limit", description = "Use only the first N training images (quick runs).")
    Integer limit;

    @Option(names = "--test-limit", description = "Evaluate the final model on only the first N test images.")
    Integer testLimit;

    @Option(names = "--patch", defaultValue = "4", description = "Patch size (default: ${DEFAULT-VALUE}).")
    int patch;

    @Option(names = "--stem-channels", defaultValue = "16",
            description = "Channels of the 3x3 conv stem before patchification, 0 = none (default: ${DEFAULT-VALUE}).")
    int stemChannels;

    @Option(names = "--stem-layers", defaultValue = "1",
            description = "3x3 convolution + GELU layers in the stem (default: ${DEFAULT-VALUE}).")
    int stemLayers;

    @Option(names = "--dim", defaultValue = "64", description = "Embedding width (default: ${DEFAULT-VALUE}).")
    int dim;

    @Option(names = "--depth", defaultValue = "6", description = "Transformer blocks (default: ${DEFAULT-VALUE}).")
    int depth;

    @Option(names = "--heads", defaultValue = "4", description = "Attention heads per block (default: ${DEFAULT-VALUE}).")
    int heads;

    @Option(names = "--mlp-dim", defaultValue = "128", description = "MLP hidden width (default: ${DEFAULT-VALUE}).")
    int mlpDim;

    @Option(names = "--conv-init", defaultValue = "trunc-normal",
            description = "Initialisation of the stem and patch convolutions: trunc-normal (std 0.02, like the linear layers) or xavier (default: ${DEFAULT-VALUE}).")
    String convInit;

    @Option(names = "--model-version", description = "Model version id (default: base-<timestamp>).")
    String version;

    @Option(names = "--resume", description = "Continue from OUT/checkpoint (same options; Adam moments restart).")
    boolean resume;

    @Option(names = "--quiet", description = "No progress bar.")
    boolean quiet;

    @Override
    public Integer call() throws IOException {
        TrainOptions options = new TrainOptions(epochs, batch, lr, minLr, weightDecay, warmup, labelSmoothing, shift,
                !noFlip, seed);
        InputSpec input = InputSpec.fashionMnist();
        DataOptions.Split split = data.trainAndValidation(valSize, limit, seed);
        LabeledImages all = split.all();
        LabeledImages train = split.train();
        LabeledImages validation = split.validation();
        Seeds.seedAll(seed);

        Path checkpoint = out.resolve("checkpoint");
        Path stateFile = checkpoint.resolve("train-state.json");
        VitModel model;
        int startEpoch = 0;
        Manifest template;
        if (resume) {
            if (!Files.isRegularFile(stateFile)) {
                throw new UserError("--resume: no checkpoint at " + stateFile);
            }
            Map<String, Object> state = Json.MAPPER.readValue(stateFile.toFile(), new TypeReference<>() {});
            startEpoch = ((Number) state.get("epochs_done")).intValue();
            if (startEpoch >= epochs) {
                throw new UserError("--resume: checkpoint already has " + startEpoch + " of " + epochs + " epochs");
            }
            ModelArtifact.Loaded loaded = ModelArtifact.load(checkpoint);
            model = loaded.model();
            template = loaded.manifest();
            Map<String, Object> recipe = new LinkedHashMap<>(template.training());
            // Keep the history honest: a resumed run may extend the schedule (a warm restart of the cosine).
            recipe.put("resumed_after_epoch_" + startEpoch, "--resume --epochs " + epochs + " --lr " + lr);
            recipe.put("epochs", epochs);
            template = new Manifest(template.formatVersion(), template.version(), template.parentVersion(),
                    template.architecture(), template.classNames(), template.input(), 0, 0, null, null, recipe, null,
                    template.createdAt(), template.sparsifier());
            System.err.printf(Locale.ROOT, "resuming %s after epoch %d of %d%n", template.version(), startEpoch, epochs);
        } else {
            VitConfig config = VitConfig.uniform(input.height(), input.channels(), patch, stemChannels, stemLayers,
                    dim, depth, heads, mlpDim, all.classNames().size());
            if (!convInit.equals("trunc-normal") && !convInit.equals("xavier")) {
                throw new UserError("--conv-init must be trunc-normal or xavier, got " + convInit);
            }
            model = VitModel.create(config, null, convInit.equals("xavier"));
            String id = version != null ? version
                    : "base-" + Instant.now().truncatedTo(ChronoUnit.SECONDS).toString().replaceAll("[-:]", "");
            template = new Manifest(Manifest.FORMAT_VERSION, id, null, config, all.classNames(), input, 0, 0, null,
                    null, recipe(options, train.count(), validation.count()), null, Instant.now().toString());
        }
        VitConfig config = model.config();
        System.err.printf(Locale.ROOT, "model %s: %d blocks, dim %d, %d tokens, %,d parameters, %.1f MFLOPs/image%n",
                template.version(), config.depth(), config.dim(), config.numTokens(), model.parameterCount(),
                FlopCounter.perImage(config) / 1e6);
        System.err.printf(Locale.ROOT, "data: %d train, %d validation images%n", train.count(), validation.count());
        final Manifest base = template;
        long wallStart = System.nanoTime();
        try (model) {
            VitTrainer.EpochStats last = VitTrainer.train(model, input, train, validation, options, startEpoch, !quiet,
                    stats -> {
                        System.err.printf(Locale.ROOT,
                                "epoch %d/%d: loss %.4f train acc %.4f val acc %.4f (%.0f img/s, %s, lr %.2e)%n",
                                stats.epoch(), epochs, stats.trainLoss(), stats.trainAccuracy(),
                                stats.validationAccuracy(), stats.imagesPerSecond(),
                                io.vitstream.training.ProgressBar.formatDuration(stats.seconds()),
                                stats.learningRate());
                        ModelArtifact.save(checkpoint, model, base.withAccuracy(null, stats.validationAccuracy()));
                        writeState(stateFile, stats.epoch());
                    });
            LabeledImages test = data.test(input.height());
            if (testLimit != null) {
                test = test.limit(testLimit);
            }
            EvalResult r = Evaluator.evaluate(model, input, test, 256);
            Map<String, Object> recipe = new LinkedHashMap<>(base.training());
            recipe.put("wall_seconds_last_run", Math.round((System.nanoTime() - wallStart) / 1e9));
            recipe.put("test_images", test.count());
            Manifest m = new Manifest(base.formatVersion(), base.version(), base.parentVersion(), config,
                    base.classNames(), input, 0, 0, r.accuracy(), last.validationAccuracy(), recipe, null,
                    Instant.now().toString());
            ModelArtifact.save(out, model, m);
            System.err.printf(Locale.ROOT, "wrote %s: test accuracy %.4f on %d images, validation %.4f%n", out,
                    r.accuracy(), test.count(), last.validationAccuracy());
        }
        return 0;
    }

    private Map<String, Object> recipe(TrainOptions o, int trainCount, int valCount) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("command", Invocation.of(spec));
        r.put("optimizer", "adamw");
        r.put("learning_rate", o.learningRate());
        r.put("min_learning_rate", o.minLearningRate());
        r.put("weight_decay", o.weightDecay());
        r.put("schedule", "linear warm-up " + o.warmupEpochs() + " epochs, cosine decay");
        r.put("epochs", o.epochs());
        r.put("batch_size", o.batchSize());
        r.put("label_smoothing", o.labelSmoothing());
        r.put("augmentation", "shift +-" + o.maxShift() + " px" + (o.flip() ? ", horizontal flip" : ""));
        r.put("seed", o.seed());
        r.put("train_images", trainCount);
        r.put("validation_images", valCount);
        r.put("dataset", "fashion-mnist");
        return r;
    }

    private static void writeState(Path stateFile, int epochsDone) {
        try {
            Files.writeString(stateFile, Json.MAPPER.writeValueAsString(Map.of("epochs_done", epochsDone)));
        } catch (IOException e) {
            throw new UserError("cannot write " + stateFile + ": " + e.getMessage(), e);
        }
    }
}
