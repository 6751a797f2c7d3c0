package io.vitstream.bench;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.cli.DataOptions;
import io.vitstream.cli.SaliencyOptions;

import io.vitstream.controller.pruner.MaskHeatMap;
import io.vitstream.controller.pruner.MaskSettings;
import io.vitstream.controller.pruner.PruneSettings;
import io.vitstream.controller.pruner.Saliency;
import io.vitstream.data.LabeledImages;
import io.vitstream.engine.EngineKind;
import io.vitstream.evaluation.Evaluator;
import io.vitstream.model.KeepPolicy;
import io.vitstream.sparsity.SparseForward;
import io.vitstream.util.FileTrees;
import io.vitstream.util.UserError;
import java.awt.Color;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code vitstream bench methods}: every token reducer and every structured method on one parent in one run, at one
 * structured budget and two token keep ratios; FLOPs, images/s on ONNX Runtime (interleaved rounds), accuracy.
 */
@Command(name = "methods", mixinStandardHelpOptions = true,
        description = {
            "Every method on one parent (--model), in one run. Token reducers at each --keep-ratios (no training:",
            "the parent's learned predictors, CLS attention with and without the package token, ToMe, grid merge).",
            "Structured methods at --flops-ratio: every measure and mask search estimated once on the same",
            "--calibration images, sliced, then the same distillation fine-tune for all (--epochs on --limit images).",
            "Columns: MFLOPs/image, images/s on ONNX Runtime (one stream, best of --rounds interleaved rounds of",
            "--seconds), validation and test accuracy (structured: straight after slicing and after the fine-tune).",
            "Prints a Markdown table and writes a PNG of test accuracy against images/s (--plot)."
        })
final class BenchMethodsCommand implements Callable<Integer> {
    static final List<String> STRUCTURED = List.of("taylor", "fisher", "obd", "hessian", "vit-slim", "x-pruner",
            "cap");
    static final List<String> TOKENS = List.of("learned", "cls-attention", "cls-attention+package", "tome",
            "grid-merge");

    @Spec
    CommandSpec spec;

    @Option(names = "--model", defaultValue = "${sys:vitstream.home:-.}/models/sparse",
            description = "Parent model, with token predictors (default: ${DEFAULT-VALUE}).")
    Path model;

    @Option(names = "--flops-ratio", defaultValue = "0.5",
            description = "FLOPs budget of the structured methods, in (0, 1) (default: ${DEFAULT-VALUE}).")
    double flopsRatio;

    @Option(names = "--keep-ratios", split = ",", defaultValue = "0.7,0.5",
            description = "Keep ratios of the token rows, each in (0, 1] (default: ${DEFAULT-VALUE}).")
    List<Double> keepRatios;

    @Option(names = "--structured", split = ",", defaultValue = "taylor,fisher,obd,hessian,vit-slim,x-pruner,cap",
            description = "Structured methods (prune --saliency names) (default: ${DEFAULT-VALUE}).")
    List<String> structured;

    @Option(names = "--tokens", split = ",", defaultValue = "learned,cls-attention,cls-attention+package,tome,grid-merge",
            description = "Token reducers (evaluate --method names; +package adds the package token) "
                    + "(default: ${DEFAULT-VALUE}).")
    List<String> tokens;

    @Option(names = "--calibration", defaultValue = "2048",
            description = "Calibration images of the saliency measures (default: ${DEFAULT-VALUE}).")
    int calibration;

    @Option(names = "--epochs", defaultValue = "1", description = "Fine-tuning epochs per method (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--limit", defaultValue = "10000",
            description = "Fine-tuning (and predictor re-fit) images per method (default: ${DEFAULT-VALUE}).")
    int limit;

    @Option(names = "--val-size", defaultValue = "5000", description = "Validation images (default: ${DEFAULT-VALUE}).")
    int valSize;

    @Option(names = "--test-limit", description = "Use only the first N test images (quick runs).")
    Integer testLimit;

    @Option(names = "--batch", defaultValue = "64", description = "Timing batch size (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--seconds", defaultValue = "3", description = "Timing per row and round (default: ${DEFAULT-VALUE}).")
    double seconds;

    @Option(names = "--rounds", defaultValue = "3",
            description = "Timing rounds, interleaved over all rows; the best is kept (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--plot", defaultValue = "${sys:vitstream.home:-.}/docs/bench-methods.png", description = "PNG plot path (default: ${DEFAULT-VALUE}).")
    Path plot;

    @Mixin
    DataOptions data;

    @Mixin
    SaliencyOptions saliencyOptions;

    /** One table row; NaN where a column does not apply (token rows are neither sliced nor fine-tuned). */
    private record Row(String kind, String method, double keepRatio, long flops, double valSliced, double testSliced,
            double validation, double test, Timing.Timed timed) {}

    @Override
    public Integer call() throws Exception {
        if (!(flopsRatio > 0 && flopsRatio < 1)) {
            throw new UserError("--flops-ratio must be in (0, 1), got " + flopsRatio);
        }
        for (double r : keepRatios) {
            if (!(r > 0 && r <= 1)) {
                throw new UserError("--keep-ratios must each be in (0, 1], got " + r);
            }
        }
        if (batch < 1 || !(seconds > 0) || rounds < 1 || calibration < 1 || limit < 1 || epochs < 1 || valSize < 1) {
            throw new UserError("--batch, --seconds, --rounds, --calibration, --limit, --epochs and --val-size must be "
                    + "positive");
        }
        List<Saliency.Method> methods = StructuredComparison.methods(structured, "--structured");
        List<KeepPolicy> policies = new ArrayList<>();
        for (double r : keepRatios) {
            for (String t : tokens) {
                boolean pkg = t.endsWith("+package");
                KeepPolicy.Method m;
                try {
                    m = KeepPolicy.Method.parse(pkg ? t.substring(0, t.length() - "+package".length()) : t);
                    policies.add(new KeepPolicy(r, m, pkg));
                } catch (IllegalArgumentException e) {
                    throw new UserError("--tokens: " + e.getMessage());
                }
            }
        }
        MaskSettings masks = saliencyOptions.checked();
        if (!Files.isDirectory(model)) {
            throw new UserError("model directory not found: " + model);
        }
        data.checkAvailable();
        PrintWriter out = spec.commandLine().getOut();
        PruneSettings settings = new PruneSettings(data.dataDir, calibration, valSize, limit, epochs, 128, 2e-4, 4.0,
                0.7, epochs + 1, 42L, EngineKind.AUTO, saliencyOptions.hessianProbes,
                saliencyOptions.capDamping, masks);
        LabeledImages validation = data.trainAndValidation(valSize, null, 42L).validation();
        Path work = Files.createTempDirectory("vitstream-bench-methods");
        List<ModelArtifact.Loaded> open = new ArrayList<>();
        try (BenchEngines engines = new BenchEngines()) {
            ModelArtifact.Loaded parent = ModelArtifact.load(model);
            open.add(parent);
            LabeledImages test = data.test(parent.manifest().input().height());
            if (testLimit != null) {
                test = test.limit(testLimit);
            }
            List<Row> rows = new ArrayList<>();
            out.printf(Locale.ROOT, "bench methods: %s (%s), %d validation and %d test images%n", model,
                    parent.manifest().version(), validation.count(), test.count());
            out.flush();
            rows.add(tokenRow(parent, KeepPolicy.dense(), "dense", engines, validation, test));
            for (KeepPolicy p : policies) {
                rows.add(tokenRow(parent, p, p.method().id() + (p.packageToken() ? " + package token" : ""), engines,
                        validation, test));
            }
            out.printf(Locale.ROOT, "structured: %s at %.0f%% of the FLOPs; fine-tune %d epoch(s) on %d images%n",
                    methods.stream().map(Saliency.Method::id).toList(), 100 * flopsRatio, epochs, limit);
            out.flush();
            for (StructuredComparison.Result r : StructuredComparison.run(model, settings, flopsRatio, methods, test,
                    work, out)) {
                ModelArtifact.Loaded m = ModelArtifact.load(r.model());
                open.add(m);
                rows.add(new Row("structure", r.method().id(), 1.0, r.flops(), r.validationSliced(), r.testSliced(),
                        r.validationTuned(), r.testTuned(), new Timing.Timed(m, KeepPolicy.dense())));
            }
            Timing.Streams one = Timing.Streams.of(1);
            out.printf(Locale.ROOT, "timing %d rows on onnxruntime, %s, batch %d, %d interleaved rounds of %.1f s...%n",
                    rows.size(), one.label(), batch, rounds, seconds);
            out.flush();
            double[][][] best = Timing.best(engines, rows.stream().map(Row::timed).toList(),
                    List.of(EngineKind.ONNXRUNTIME), List.of(one), test, batch, seconds, rounds);
            printTable(out, rows, best, one);
            writePlot(rows, best, one);
            out.println();
            out.println("plot: " + plot);
            Path heatMap = work.resolve(Saliency.Method.X_PRUNER.id()).resolve(MaskHeatMap.FILE);
            if (Files.exists(heatMap)) {
                Path copy = plot.resolveSibling("bench-methods-" + MaskHeatMap.FILE);
                Files.copy(heatMap, copy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                out.println("X-Pruner masks (unit x class): " + copy);
            }
            out.flush();
        } finally {
            open.forEach(ModelArtifact.Loaded::close);
            FileTrees.deleteQuietly(work);
        }
        return 0;
    }

    private Row tokenRow(ModelArtifact.Loaded m, KeepPolicy policy, String name, BenchEngines engines,
            LabeledImages validation, LabeledImages test) {
        Timing.Streams one = Timing.Streams.of(1);
        var engine = engines.engine(EngineKind.ONNXRUNTIME, m, policy, one.threads(), 0);
        int classes = m.manifest().architecture().numClasses();
        double val = Evaluator.evaluate(engine, classes, m.manifest().input(), validation, 256, policy).accuracy();
        double acc = Evaluator.evaluate(engine, classes, m.manifest().input(), test, 256, policy).accuracy();
        long flops = SparseForward.flopsPerImage(m.manifest().architecture(),
                SparseForward.stagesFor(m.model().network(), policy), policy);
        spec.commandLine().getOut().printf(Locale.ROOT, "  %-28s keep %.1f: %.2f MFLOPs, val %.4f, test %.4f%n", name,
                policy.keepRatio(), flops / 1e6, val, acc);
        spec.commandLine().getOut().flush();
        return new Row(policy.isDense() ? "dense" : "tokens", name, policy.keepRatio(), flops, Double.NaN, Double.NaN,
                val, acc, new Timing.Timed(m, policy));
    }

    private void printTable(PrintWriter out, List<Row> rows, double[][][] best, Timing.Streams one) {
        out.printf(Locale.ROOT, "%nParent %s; images/s on onnxruntime, %s, batch %d, best of %d interleaved rounds of "
                + "%.1f s; speed-up over the dense parent; accuracy on ONNX Runtime, except \"test sliced\" (DJL "
                + "forward). Structured rows: sliced, then fine-tuned %d epoch(s) on %d images (distillation from the "
                + "parent, predictors re-fit), at %.0f%% of the FLOPs.%n%n", model, one.label(), batch, rounds, seconds,
                epochs, limit, 100 * flopsRatio);
        out.println("| kind | method | keep ratio | MFLOPs/image | FLOPs vs dense | images/s | speed-up | val sliced "
                + "| test sliced | val | test |");
        out.println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        double denseFlops = rows.get(0).flops();
        double denseIps = best[0][0][0];
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            out.printf(Locale.ROOT, "| %s | %s | %.1f | %.2f | %.1f%% | %.0f | %.2fx | %s | %s | %.4f | %.4f |%n",
                    r.kind(), r.method(), r.keepRatio(), r.flops() / 1e6, 100 * r.flops() / denseFlops, best[i][0][0],
                    best[i][0][0] / denseIps, cell(r.valSliced()), cell(r.testSliced()), r.validation(), r.test());
        }
        out.flush();
    }

    private static String cell(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.4f", v);
    }

    /** Test accuracy against images/s: one series per token reducer (a point per keep ratio), one per structured method. */
    private void writePlot(List<Row> rows, double[][][] best, Timing.Streams one) throws java.io.IOException {
        ScatterPlot p = new ScatterPlot(String.format(Locale.ROOT, "Methods: test accuracy vs images/s (onnxruntime, "
                + "batch %d, %s; structure at %.0f%% FLOPs)", batch, one.label(), 100 * flopsRatio), "images/s",
                "test accuracy");
        Color[] colors = {Color.BLACK, new Color(0, 102, 204), new Color(204, 51, 0), new Color(0, 153, 102),
            new Color(153, 51, 153), new Color(204, 153, 0), new Color(102, 102, 102), new Color(0, 153, 204),
            new Color(255, 102, 102), new Color(51, 102, 0), new Color(153, 102, 51), new Color(102, 0, 204)};
        java.util.Map<String, List<ScatterPlot.Point>> series = new java.util.LinkedHashMap<>();
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            String label = r.kind().equals("structure") ? r.method() : String.format(Locale.ROOT, "%.1f",
                    r.keepRatio());
            series.computeIfAbsent(r.kind().equals("structure") ? "structure: " + r.method() : r.method(),
                    k -> new ArrayList<>()).add(new ScatterPlot.Point(best[i][0][0], r.test(), label));
        }
        int c = 0;
        for (var e : series.entrySet()) {
            p.add(new ScatterPlot.Series(e.getKey(), colors[c++ % colors.length], e.getValue().size() > 1,
                    e.getValue()));
        }
        if (plot.getParent() != null) {
            Files.createDirectories(plot.getParent());
        }
        p.write(plot);
    }
}
