package io.vitstream.bench;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.cli.DataOptions;
import io.vitstream.cli.SaliencyOptions;

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
 * {@code vitstream bench prune}: dense base, token-only, structure-only and combined, measured in one run; then the
 * saliency measures compared at one FLOPs budget, before and after a short distillation fine-tune.
 */
@Command(name = "prune", mixinStandardHelpOptions = true,
        description = {
            "Structured pruning benchmark. Part 1, in one run at one batch size: the dense base, token sparsification",
            "only (--sparse at --keep-ratio), structured pruning only (--pruned, dense) and both (--pruned at",
            "--keep-ratio): test accuracy (once per row, on the first --engine), FLOPs per image, images/s on each",
            "--engine (interleaved) and speed-up over the dense base on the same engine and on PyTorch; then, on",
            "PyTorch in the last --streams configuration, each row's embedding timed alone (another rounds x rows x",
            "seconds) to show where the time goes and what speed-up a free embedding would bound each row at. Part 2:",
            "the --compare-saliency measures (Taylor, Fisher, OBD, the Hutchinson Hessian diagonal, CAP) at one budget",
            "(--compare-ratio of --sparse): test accuracy after slicing and after a short fine-tune, with validation",
            "accuracy (what choices are made on).",
            "Prints Markdown tables and writes a PNG plot of accuracy against images/s."
        })
final class BenchPruneCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--base", defaultValue = "${sys:vitstream.home:-.}/models/base",
            description = "Dense base model (default: ${DEFAULT-VALUE}).")
    Path base;

    @Option(names = "--sparse", defaultValue = "${sys:vitstream.home:-.}/models/sparse",
            description = "Token-sparsified model, also the parent for the saliency comparison (default: ${DEFAULT-VALUE}).")
    Path sparse;

    @Option(names = "--pruned", defaultValue = "${sys:vitstream.home:-.}/models/pruned-50",
            description = "Structurally pruned model (default: ${DEFAULT-VALUE}).")
    Path pruned;

    @Option(names = "--keep-ratio", defaultValue = "0.7", description = "Keep ratio of the token rows (default: ${DEFAULT-VALUE}).")
    double keepRatio;

    @Option(names = "--engine", defaultValue = "both", paramLabel = "auto|onnxruntime|pytorch|both",
            description = "Engines timed, interleaved (default: ${DEFAULT-VALUE}).")
    String engine;

    @Option(names = "--batch", defaultValue = "64", description = "Batch size (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--seconds", defaultValue = "3", description = "Timing per row and round (default: ${DEFAULT-VALUE}).")
    double seconds;

    @Option(names = "--rounds", defaultValue = "3",
            description = "Timing rounds, interleaved over all rows; the best is kept (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--limit", description = "Use only the first N test images for accuracy (quick runs).")
    Integer limit;

    @Option(names = "--compare", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Run part 2, the saliency comparison (default: ${DEFAULT-VALUE}).")
    boolean compare;

    @Option(names = "--compare-ratio", defaultValue = "0.5", description = "FLOPs budget of the comparison (default: ${DEFAULT-VALUE}).")
    double compareRatio;

    @Option(names = "--compare-epochs", defaultValue = "1", description = "Fine-tuning epochs per measure (default: ${DEFAULT-VALUE}).")
    int compareEpochs;

    @Option(names = "--compare-limit", defaultValue = "10000",
            description = "Training images per fine-tuning epoch of the comparison (default: ${DEFAULT-VALUE}).")
    int compareLimit;

    @Option(names = "--calibration", defaultValue = "2048", description = "Calibration images (default: ${DEFAULT-VALUE}).")
    int calibration;

    @Option(names = "--compare-saliency", split = ",", defaultValue = "taylor,fisher,obd,hessian,cap",
            description = "Saliency measures compared in part 2 (default: ${DEFAULT-VALUE}).")
    List<String> compareSaliency;

    @Option(names = "--plot", defaultValue = "bench-out/prune.png", description = "PNG plot path (default: ${DEFAULT-VALUE}).")
    Path plot;

    @Mixin
    DataOptions data;

    @Mixin
    SaliencyOptions saliencyOptions;

    @Option(names = "--streams", split = ",", defaultValue = "1,0",
            description = {"Stream configurations timed: N forward passes side by side, cores/N threads each; 0 is one",
                "per core, as a worker's default inference lanes (default: ${DEFAULT-VALUE})."})
    List<Integer> streams;

    /** {@code ips}: best images/s per engine (first index) and stream configuration (second). */
    private record Row(String name, ModelArtifact.Loaded model, KeepPolicy policy, long flops, double accuracy,
            double[][] ips) {}

    @Override
    public Integer call() throws Exception {
        if (batch < 1 || !(seconds > 0) || rounds < 1) {
            throw new UserError("--batch, --seconds and --rounds must be positive");
        }
        if (!(compareRatio > 0 && compareRatio < 1)) {
            throw new UserError("--compare-ratio must be in (0, 1), got " + compareRatio);
        }
        List<Saliency.Method> methods = StructuredComparison.methods(compareSaliency, "--compare-saliency");
        saliencyOptions.checked(); // bad values end here, before part 1 runs
        List<Timing.Streams> configs = Timing.streams(streams);
        List<EngineKind> kinds = BenchEngines.parse(engine);
        KeepPolicy sparsePolicy = new KeepPolicy(keepRatio, KeepPolicy.Method.LEARNED, false);
        data.checkAvailable();
        PrintWriter out = spec.commandLine().getOut();
        try (ModelArtifact.Loaded dense = ModelArtifact.load(base);
                ModelArtifact.Loaded tokens = ModelArtifact.load(sparse);
                ModelArtifact.Loaded structured = ModelArtifact.load(pruned);
                BenchEngines engines = new BenchEngines()) {
            LabeledImages test = data.test(dense.manifest().input().height());
            LabeledImages accuracySet = limit != null ? test.limit(limit) : test;
            List<Row> rows = new ArrayList<>();
            rows.add(row("dense base", dense, KeepPolicy.dense(), accuracySet, engines, kinds, configs.size()));
            rows.add(row("token only", tokens, sparsePolicy, accuracySet, engines, kinds, configs.size()));
            rows.add(row("structure only", structured, KeepPolicy.dense(), accuracySet, engines, kinds,
                    configs.size()));
            rows.add(row("combined", structured,
                    structured.manifest().sparsifier() != null && structured.manifest().sparsifier().hasPredictors()
                            ? sparsePolicy : new KeepPolicy(keepRatio, KeepPolicy.Method.CLS_ATTENTION, false),
                    accuracySet, engines, kinds, configs.size()));
            out.printf(Locale.ROOT, "timing %d rows x %s x %d rounds x %d stream configurations at batch %d (%d cores)"
                    + "...%n", rows.size(), BenchEngines.labels(kinds), rounds, configs.size(), batch,
                    Runtime.getRuntime().availableProcessors());
            out.flush();
            List<Timing.Timed> timed = rows.stream().map(r -> new Timing.Timed(r.model(), r.policy())).toList();
            double[][][] best = Timing.best(engines, timed, kinds, configs, test, batch, seconds, rounds);
            for (int i = 0; i < rows.size(); i++) {
                for (int k = 0; k < kinds.size(); k++) {
                    System.arraycopy(best[i][k], 0, rows.get(i).ips()[k], 0, configs.size());
                }
            }
            Row d = rows.get(0);
            int pyTorch = kinds.indexOf(EngineKind.PYTORCH);
            boolean versusPyTorch = pyTorch >= 0 && kinds.size() > 1;
            out.printf(Locale.ROOT, "%nAccuracy on %d test images on %s; images/s at batch %d on each engine, best of %d"
                    + " interleaved rounds of %.1f s, per stream configuration (streams x intra-op threads each; the "
                    + "streams share one engine) (speed-up: over the dense base on the same engine in the same "
                    + "configuration%s)%n%n", accuracySet.count(), BenchEngines.label(kinds.get(0)), batch, rounds,
                    seconds, versusPyTorch ? "; vs dense on pytorch: over the dense base on PyTorch" : "");
            StringBuilder head = new StringBuilder("| configuration | model | keep ratio | MFLOPs/image | FLOPs vs dense "
                    + "| accuracy | Δ acc (points) | engine |");
            StringBuilder rule = new StringBuilder("|---|---|---:|---:|---:|---:|---:|---|");
            out.println(head.append(Timing.headerCells(configs, versusPyTorch)));
            out.println(rule.append(Timing.ruleCells(configs, versusPyTorch)));
            for (Row r : rows) {
                for (int k = 0; k < kinds.size(); k++) {
                    StringBuilder line = new StringBuilder(String.format(Locale.ROOT,
                            "| %s | %s | %.1f | %.2f | %.1f%% | %.4f | %+.2f | %s |", r.name(),
                            r.model().manifest().version(), r.policy().keepRatio(), r.flops() / 1e6,
                            100.0 * r.flops() / d.flops(), r.accuracy(), 100 * (r.accuracy() - d.accuracy()),
                            BenchEngines.label(kinds.get(k))));
                    out.println(line.append(Timing.cells(r.ips()[k], d.ips()[k],
                            versusPyTorch ? d.ips()[pyTorch] : null)));
                }
            }
            out.flush();
            if (pyTorch >= 0) {
                printBreakdown(out, rows, pyTorch, timed, configs, test);
            } else {
                out.printf("%nWhere the time goes: measured on PyTorch only (ONNX Runtime runs whole-model graphs); "
                        + "add --engine pytorch or both%n");
            }
            writePlot(rows, kinds, configs);
            out.println();
            out.println("plot: " + plot);
            out.flush();
            if (compare) {
                compareSaliency(out, test, methods);
            }
        }
        return 0;
    }

    /**
     * The forward pass split into the embedding (stem and patch projection: neither pruned nor sparsified) and the
     * rest, in the last stream configuration. The rest's speed-up bounds what any saving in the embedding alone could
     * give: a row whose embedding cost nothing would run at most the dense forward time over the row's rest.
     */
    private void printBreakdown(PrintWriter out, List<Row> rows, int pyTorch, List<Timing.Timed> timed,
            List<Timing.Streams> configs, LabeledImages test) {
        int c = configs.size() - 1;
        int streamCount = configs.get(c).count();
        out.printf(Locale.ROOT, "%ntiming the embedding alone on pytorch (%s, %d interleaved rounds of %.1f s)...%n",
                configs.get(c).label(), rounds, seconds);
        out.flush();
        double[] embedding = Timing.bestEmbedding(timed, configs.get(c), test, batch, seconds, rounds);
        out.printf(Locale.ROOT, "%nWhere the time goes on pytorch, %s, batch %d: the embedding (stem convolutions at full "
                + "resolution, patch projection, CLS, positions; never pruned, never sparsified) and the rest (blocks, "
                + "token selection, head), ms per batch per stream. \"bound\": the speed-up over the dense base if "
                + "this row's embedding took no time at all.%n%n", configs.get(c).label(), batch);
        out.println("| configuration | forward ms/batch | embedding ms/batch | embedding share | rest ms/batch "
                + "| rest speed-up | speed-up | bound |");
        out.println("|---|---:|---:|---:|---:|---:|---:|---:|");
        double denseForward = msPerBatch(rows.get(0).ips()[pyTorch][c], streamCount);
        double denseRest = denseForward - msPerBatch(embedding[0], streamCount);
        for (int i = 0; i < rows.size(); i++) {
            double forward = msPerBatch(rows.get(i).ips()[pyTorch][c], streamCount);
            double embed = msPerBatch(embedding[i], streamCount);
            double rest = forward - embed;
            // Measured apart, the embedding alone can time above a whole tiny forward pass in a noisy moment.
            out.printf(Locale.ROOT, "| %s | %.1f | %.1f | %.0f%% | %.1f | %s | %.2fx | %s |%n",
                    rows.get(i).name(), forward, embed, 100 * embed / forward, rest,
                    rest > 0 && denseRest > 0 ? String.format(Locale.ROOT, "%.2fx", denseRest / rest) : "n/a",
                    denseForward / forward,
                    rest > 0 ? String.format(Locale.ROOT, "%.2fx", denseForward / rest) : "n/a");
        }
        out.flush();
    }

    /** Milliseconds per batch of one stream, from the images/s of {@code streams} streams together. */
    private double msPerBatch(double imagesPerSecond, int streams) {
        return 1000.0 * batch * streams / imagesPerSecond;
    }

    /** A row, its accuracy on the first engine (the one-stream engine the timing then uses). */
    private Row row(String name, ModelArtifact.Loaded m, KeepPolicy policy, LabeledImages data, BenchEngines engines,
            List<EngineKind> kinds, int configs) {
        Timing.Streams one = Timing.Streams.of(1);
        BenchEngines.usePyTorchThreads(kinds.get(0), one.threads());
        double acc = Evaluator.evaluate(engines.engine(kinds.get(0), m, policy, one.threads(), 0),
                m.manifest().architecture().numClasses(), m.manifest().input(), data, 256, policy).accuracy();
        long flops = SparseForward.flopsPerImage(m.manifest().architecture(),
                SparseForward.stagesFor(m.model().network(), policy), policy);
        spec.commandLine().getOut().printf(Locale.ROOT, "  %-15s %s at keep %.1f: accuracy %.4f (%s)%n", name,
                m.manifest().version(), policy.keepRatio(), acc, BenchEngines.label(kinds.get(0)));
        spec.commandLine().getOut().flush();
        return new Row(name, m, policy, flops, acc, new double[kinds.size()][configs]);
    }

    /** Part 2: the measures at one budget; saliency estimated once, then plan, slice and fine-tune per measure. */
    private void compareSaliency(PrintWriter out, LabeledImages test, List<Saliency.Method> methods) throws Exception {
        PruneSettings settings = new PruneSettings(data.dataDir, calibration, 5000, compareLimit, compareEpochs, 128,
                2e-4, 4.0, 0.7, compareEpochs + 1, 42L, io.vitstream.engine.EngineKind.AUTO,
                saliencyOptions.hessianProbes, saliencyOptions.capDamping, saliencyOptions.checked());
        out.printf(Locale.ROOT, "%nSaliency comparison: %s pruned to %.0f%% of its FLOPs; %d calibration images; "
                + "fine-tune %d epoch(s) on %d images%n", sparse, 100 * compareRatio, calibration, compareEpochs,
                compareLimit);
        out.flush();
        Path work = Files.createTempDirectory("vitstream-bench-prune");
        List<String> lines = new ArrayList<>();
        try {
            for (StructuredComparison.Result r : StructuredComparison.run(sparse, settings, compareRatio, methods,
                    test, work, out)) {
                lines.add(String.format(Locale.ROOT, "| %s | %.2f | %d/%d | %.4f | %.4f | %.4f | %.4f |",
                        r.method().id(), r.flops() / 1e6, r.plan().after().depth(), r.plan().before().depth(),
                        r.testSliced(), r.testTuned(), r.validationSliced(), r.validationTuned()));
            }
        } finally {
            FileTrees.deleteQuietly(work);
        }
        out.println();
        out.println("| saliency | MFLOPs/image | blocks kept | test acc sliced | test acc fine-tuned | val acc sliced | "
                + "val acc fine-tuned |");
        out.println("|---|---:|---:|---:|---:|---:|---:|");
        lines.forEach(out::println);
        out.flush();
    }

    /**
     * The plot shows the last stream configuration (by default the worker's: one lane per core): a series per row,
     * one point per engine, labelled with the engine.
     */
    private void writePlot(List<Row> rows, List<EngineKind> kinds, List<Timing.Streams> configs)
            throws java.io.IOException {
        int c = configs.size() - 1;
        ScatterPlot p = new ScatterPlot("Pruning: accuracy vs images/s (batch " + batch + ", "
                + configs.get(c).label() + ")", "images/s", "test accuracy");
        Color[] colors = {Color.BLACK, new Color(0, 102, 204), new Color(204, 51, 0), new Color(0, 153, 102)};
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            List<ScatterPlot.Point> points = new ArrayList<>();
            for (int k = 0; k < kinds.size(); k++) {
                points.add(new ScatterPlot.Point(r.ips()[k][c], r.accuracy(), String.format(Locale.ROOT, "%.1f %s",
                        r.policy().keepRatio(), BenchEngines.label(kinds.get(k)))));
            }
            p.add(new ScatterPlot.Series(r.name(), colors[i % colors.length], false, points));
        }
        p.write(plot);
    }
}
