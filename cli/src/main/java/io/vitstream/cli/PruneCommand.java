package io.vitstream.cli;

import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;

import io.vitstream.controller.pruner.MaskHeatMap;
import io.vitstream.controller.pruner.MaskSettings;
import io.vitstream.controller.pruner.PruneJob;
import io.vitstream.controller.pruner.PruneRequest;
import io.vitstream.controller.pruner.PruneResult;
import io.vitstream.controller.pruner.PruneSettings;
import io.vitstream.controller.pruner.Saliency;
import io.vitstream.util.UserError;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code vitstream prune}: the structured re-pruning job, standalone (the controller runs the same job). */
@Command(name = "prune", mixinStandardHelpOptions = true,
        description = {
            "Make a smaller model: estimate the saliency of every attention head, MLP neuron and block on a",
            "calibration slice of the training data, remove the least salient per FLOP until the model fits the",
            "FLOPs budget, slice the weights, and fine-tune with knowledge distillation from the parent (early stop",
            "on a validation split). Token predictors of the parent are carried over and re-fit.",
            "Writes a model artifact recording the parent version, the plan, the saliency method and the accuracy."
        })
final class PruneCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, description = "Parent model directory.")
    Path model;

    @Option(names = "--out", required = true, description = "Output model directory (new or empty).")
    Path out;

    @Option(names = "--flops-ratio", description = "Target FLOPs as a share of the parent's, in (0, 1).")
    Double flopsRatio;

    @Option(names = "--flops-target", description = "Target FLOPs per image (instead of --flops-ratio).")
    Long flopsTarget;

    @Option(names = "--saliency", defaultValue = "obd",
            description = "Saliency measure to rank by: taylor, fisher, obd, hessian (OBD with the Hutchinson "
                    + "estimate of the exact Hessian diagonal) or cap (CAP's OBS step: heads and neurons scored and "
                    + "removed with the consuming layer corrected), vit-slim (ViT-Slim's search: continuous masks on "
                    + "q/k/v per head dimension and on MLP units, trained jointly with the weights under an L1 "
                    + "penalty; the search-trained weights are sliced) or x-pruner (a mask per class on every head "
                    + "and neuron, learned on the frozen parent with the label's mask; units ranked by the class sum; "
                    + "writes " + MaskHeatMap.FILE + " next to the model) (default: ${DEFAULT-VALUE}, chosen on validation "
                    + "for models/pruned-50, as the controller's re-prune jobs use). Taylor, Fisher and OBD are always "
                    + "computed and recorded side by side, with the chosen one.")
    String saliency;

    @Mixin
    SaliencyOptions saliencyOptions;

    @Option(names = "--epochs", defaultValue = "6",
            description = "Distillation fine-tuning epochs, 0 to only slice (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--patience", defaultValue = "2",
            description = "Stop after this many epochs without a better validation accuracy (default: ${DEFAULT-VALUE}).")
    int patience;

    @Option(names = "--calibration", defaultValue = "2048",
            description = "Calibration images for saliency, from the training split (default: ${DEFAULT-VALUE}).")
    int calibration;

    @Option(names = "--batch", defaultValue = "128", description = "Fine-tuning batch size (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--lr", defaultValue = "0.0002", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--temperature", defaultValue = "4.0", description = "Distillation temperature (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--distill-weight", defaultValue = "0.7",
            description = "Weight of the distillation term; labels get 1 minus it (default: ${DEFAULT-VALUE}).")
    double distillWeight;

    @Option(names = "--val-size", defaultValue = "5000", description = "Validation images (default: ${DEFAULT-VALUE}).")
    int valSize;

    @Option(names = "--limit", description = "Fine-tune on only N training images (quick runs).")
    Integer limit;

    @Option(names = "--seed", defaultValue = "42", description = "Random seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--model-version", description = "Version id of the new model (default: <parent>-p<percent>).")
    String version;

    @Option(names = "--quiet", description = "No progress bar.")
    boolean quiet;

    @Mixin
    DataOptions data;

    @Mixin
    EngineOption engine;

    @Override
    public Integer call() throws Exception {
        if (!Files.isDirectory(model)) {
            throw new UserError("model directory not found: " + model);
        }
        data.checkAvailable();
        Saliency.Method method;
        try {
            method = Saliency.Method.parse(saliency);
        } catch (IllegalArgumentException e) {
            throw new UserError("--saliency: " + e.getMessage());
        }
        double ratio = ratio();
        if (epochs < 0 || calibration < 1 || batch < 1 || patience < 1 || valSize < 1 || (limit != null && limit < 1)) {
            throw new UserError("--epochs must be >= 0 and --calibration, --batch, --patience, --val-size, --limit "
                    + "positive");
        }
        MaskSettings masks = saliencyOptions.checked();
        String id = version != null ? version : ModelArtifact.readManifest(model).version()
                + String.format(Locale.ROOT, "-p%02d", Math.round(ratio * 100));
        PruneSettings settings = new PruneSettings(data.dataDir, calibration, valSize, limit == null ? 0 : limit,
                epochs, batch, lr, temperature, distillWeight, patience, seed, engine.kind(),
                saliencyOptions.hessianProbes, saliencyOptions.capDamping, masks);
        PruneRequest request = new PruneRequest(model, out, id, ratio, method, settings);
        PrintWriter err = spec.commandLine().getErr();
        String[] lastPhase = {""};
        PruneResult r = PruneJob.run(request, (phase, fraction, detail) -> {
            // The training bar shows steps; print phases and per-epoch lines only.
            if (!phase.equals(lastPhase[0]) || detail.startsWith("epoch") && detail.contains("validation")) {
                err.printf(Locale.ROOT, "[%3.0f%%] %s: %s%n", 100 * fraction, phase, detail);
                err.flush();
                lastPhase[0] = phase;
            }
        }, !quiet);
        recordCommand(r);
        err.print(r.plan().describe());
        err.printf(Locale.ROOT, "wrote %s (%s): FLOPs %.2fM -> %.2fM (%.1f%%), validation accuracy %.4f "
                + "(sliced, before fine-tuning: %.4f), test accuracy %.4f%n", out, id, r.flopsBefore() / 1e6,
                r.flopsAfter() / 1e6, 100.0 * r.flopsAfter() / r.flopsBefore(), r.validationAccuracy(),
                r.validationAccuracyBeforeFineTune(), r.manifest().testAccuracy());
        err.flush();
        return 0;
    }

    /** Adds the command that reproduces the model to its manifest (the job itself does not know the command line). */
    private void recordCommand(PruneResult r) throws IOException {
        Map<String, Object> training = new LinkedHashMap<>();
        training.put("command", Invocation.of(spec));
        training.putAll(r.manifest().training());
        Manifest m = r.manifest();
        ModelArtifact.writeManifest(out, new Manifest(m.formatVersion(),
                m.version(), m.parentVersion(), m.architecture(), m.classNames(), m.input(), m.flopsPerImage(),
                m.parameters(), m.testAccuracy(), m.validationAccuracy(), training, m.weights(), m.createdAt(),
                m.sparsifier()));
    }

    private double ratio() {
        if ((flopsRatio == null) == (flopsTarget == null)) {
            throw new UserError("give exactly one of --flops-ratio and --flops-target");
        }
        if (flopsRatio != null) {
            if (!(flopsRatio > 0 && flopsRatio < 1)) {
                throw new UserError("--flops-ratio must be in (0, 1), got " + flopsRatio);
            }
            return flopsRatio;
        }
        long parent = ModelArtifact.readManifest(model).flopsPerImage();
        if (flopsTarget <= 0 || flopsTarget >= parent) {
            throw new UserError("--flops-target must be in (0, " + parent + ") FLOPs (the parent's), got " + flopsTarget);
        }
        return (double) flopsTarget / parent;
    }
}
