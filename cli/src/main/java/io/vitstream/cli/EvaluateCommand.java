package io.vitstream.cli;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.LabeledImages;
import io.vitstream.engine.EngineOptions;
import io.vitstream.engine.InferenceEngine;
import io.vitstream.evaluation.EvalResult;
import io.vitstream.evaluation.Evaluator;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.VitConfig;
import io.vitstream.sparsity.MergeSchedule;
import io.vitstream.sparsity.SparseForward;
import io.vitstream.util.Json;
import io.vitstream.util.UserError;
import java.io.PrintWriter;
import java.nio.file.Path;
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

/** {@code vitstream evaluate}: accuracy, per-class accuracy, confusion matrix and throughput of a model artifact. */
@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = {
            "Evaluate a model artifact on the Fashion-MNIST test set (or an image folder).",
            "Prints accuracy, per-class accuracy and the confusion matrix; with --json, one JSON object on the last line."
        })
final class EvaluateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, description = "Model directory (manifest.json + weights).")
    Path model;

    @Mixin
    DataOptions data;

    @Mixin
    EngineOption engine;

    @Option(names = "--split", defaultValue = "test",
            description = {"test (default), or validation: the images the training commands hold out of the training",
                "data (same --val-size and --seed as training give the same images), for choices that must not see"
                    + " the test set."})
    String split;

    @Option(names = "--val-size", defaultValue = "5000",
            description = "Validation images held out, as in training (default: ${DEFAULT-VALUE}).")
    int valSize;

    @Option(names = "--seed", defaultValue = "42", description = "Split seed, as in training (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--limit", description = "Evaluate only the first N images.")
    Integer limit;

    @Option(names = "--batch", defaultValue = "64", description = "Batch size (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--json", description = "Print one JSON object on the last line.")
    boolean json;

    @Option(names = "--keep-ratio", defaultValue = "1.0",
            description = {"Fraction of tokens kept at each sparsifier stage, in (0, 1] (default: ${DEFAULT-VALUE} = dense);",
                "for tome and grid-merge, the FLOPs budget: as many merges as come closest to the FLOPs of dropping at",
                "this ratio (cls-attention on the same model)."})
    double keepRatio;

    @Option(names = "--method", defaultValue = "learned",
            description = {"Token reduction: learned (DynamicViT predictors), cls-attention (training-free EViT baseline;"
                + " any model),", "tome (token merging, bipartite matching in every block; any model) or grid-merge"
                + " (adjacent column / row pairs", "of the patch grid merged; any model) (default: ${DEFAULT-VALUE})."})
    String method;

    @Option(names = "--package-token", description = "Fuse dropped tokens into one package token instead of discarding them.")
    boolean packageToken;

    @Override
    public Integer call() throws Exception {
        if (batch < 1) {
            throw new UserError("--batch must be positive, got " + batch);
        }
        if (limit != null && limit < 1) {
            throw new UserError("--limit must be positive, got " + limit);
        }
        KeepPolicy policy = new KeepPolicy(keepRatio, KeepPolicy.Method.parse(method), packageToken);
        EngineOptions engineOptions = engine.options();
        data.checkAvailable();
        try (ModelArtifact.Loaded loaded = ModelArtifact.load(model);
                InferenceEngine runner = loaded.engine(engineOptions)) {
            LabeledImages test = switch (split) {
                case "test" -> data.test(loaded.manifest().input().height());
                case "validation" -> data.trainAndValidation(valSize, null, seed).validation();
                default -> throw new UserError("--split must be test or validation, got '" + split + "'");
            };
            if (limit != null) {
                test = test.limit(limit);
            }
            if (test.classNames().size() != loaded.manifest().classNames().size()) {
                throw new UserError("the data has " + test.classNames().size() + " classes, the model "
                        + loaded.manifest().classNames().size());
            }
            EvalResult r = Evaluator.evaluate(runner, loaded.manifest().architecture().numClasses(),
                    loaded.manifest().input(), test, batch, policy);
            VitConfig arch = loaded.manifest().architecture();
            SparsifierConfig stages = SparseForward.stagesFor(loaded.model().network(), policy);
            long flops = SparseForward.flopsPerImage(arch, stages, policy);
            MergeSchedule merging = policy.merges() ? MergeSchedule.forPolicy(arch, stages.stages(), policy) : null;
            int[] tokensPerStage = stages == null || policy.isDense() || merging != null ? new int[0]
                    : SparseForward.patchesPerStage(arch.numPatches(), stages.stages(), keepRatio);
            PrintWriter out = spec.commandLine().getOut();
            List<String> names = loaded.manifest().classNames();
            out.printf(Locale.ROOT, "model %s (%s): accuracy %.4f on %d %s images, %.0f images/s at batch %d on %s, "
                    + "%.2f MFLOPs/image%n", loaded.manifest().version(), model, r.accuracy(), r.count(), split,
                    r.imagesPerSecond(), batch, runner.name(), flops / 1e6);
            if (merging != null) {
                out.printf(Locale.ROOT, "keep ratio %.2f (%s): %s; FLOPs budget: dropping at %.2f, %.2f MFLOPs/image%n",
                        keepRatio, policy.method().id(), merging.describe(), keepRatio,
                        MergeSchedule.sparsifierFlops(arch, stages.stages(), keepRatio) / 1e6);
            } else if (!policy.isDense()) {
                out.printf(Locale.ROOT, "keep ratio %.2f (%s%s): patch tokens per stage %s of %d%n", keepRatio,
                        policy.method().id(), packageToken ? ", package token" : "",
                        java.util.Arrays.toString(tokensPerStage), arch.numPatches());
            }
            double[] perClass = r.perClassAccuracy();
            out.println("per-class accuracy:");
            for (int c = 0; c < names.size(); c++) {
                out.printf(Locale.ROOT, "  %-12s %.4f%n", names.get(c), perClass[c]);
            }
            out.println("confusion matrix (rows: true class, columns: predicted):");
            StringBuilder header = new StringBuilder("             ");
            for (int c = 0; c < names.size(); c++) {
                header.append(String.format(Locale.ROOT, "%6d", c));
            }
            out.println(header);
            for (int t = 0; t < names.size(); t++) {
                StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "  %2d %-9.9s", t, names.get(t)));
                for (int p = 0; p < names.size(); p++) {
                    row.append(String.format(Locale.ROOT, "%6d", r.confusion()[t][p]));
                }
                out.println(row);
            }
            if (json) {
                Map<String, Object> j = new LinkedHashMap<>();
                j.put("model", model.toString());
                j.put("model_version", loaded.manifest().version());
                j.put("accuracy", r.accuracy());
                j.put("images", r.count());
                j.put("split", split);
                j.put("images_per_second", r.imagesPerSecond());
                j.put("engine", runner.name());
                j.put("flops_per_image", flops);
                j.put("batch", batch);
                j.put("keep_ratio", keepRatio);
                j.put("method", policy.method().id());
                j.put("package_token", packageToken);
                j.put("tokens_per_stage", tokensPerStage);
                if (merging != null) {
                    j.put("merges_per_block", merging.merges());
                    j.put("tokens_per_block", merging.attentionTokens());
                    j.put("tokens_after_merge", merging.mlpTokens());
                }
                Map<String, Double> pc = new LinkedHashMap<>();
                for (int c = 0; c < names.size(); c++) {
                    pc.put(names.get(c), perClass[c]);
                }
                j.put("per_class_accuracy", pc);
                j.put("confusion", r.confusion());
                out.println(Json.MAPPER.writeValueAsString(j));
            }
            out.flush();
        }
        return 0;
    }
}
