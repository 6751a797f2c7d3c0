package io.vitstream.bench;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.cli.DataOptions;
import io.vitstream.data.LabeledImages;
import io.vitstream.engine.EngineKind;
import io.vitstream.evaluation.Evaluator;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.VitConfig;
import io.vitstream.sparsity.MergeSchedule;
import io.vitstream.sparsity.SparseForward;
import io.vitstream.util.UserError;
import java.awt.Color;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
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

/**
 * {@code vitstream bench sparsity}: accuracy, FLOPs and images/s across keep ratios for the learned predictors, the
 * training-free CLS-attention baseline and the training-free token-merging methods (ToMe, grid merge; at each ratio
 * their FLOPs come closest to the dropping rows'), against the dense base measured in the same run.
 */
@Command(name = "sparsity", mixinStandardHelpOptions = true,
        description = {
            "Token sparsification benchmark: for each keep ratio, accuracy on the test set, FLOPs per image,",
            "images/s at a fixed batch and speed-up over the dense base measured in the same run, for the learned",
            "predictors (--sparse model) and the CLS-attention baseline (on the dense --base model), each with and",
            "without a package token, and the token-merging methods tome and grid-merge (on --base, at the FLOPs of",
            "dropping at each ratio); every row timed on each --engine, interleaved (accuracy once per row, on the",
            "first engine: ONNX Runtime unless --engine pytorch). Prints a Markdown table and writes a PNG plot of",
            "accuracy against images/s."
        })
final class BenchSparsityCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--sparse", defaultValue = "${sys:vitstream.home:-.}/models/sparse",
            description = "Model with learned token predictors (default: ${DEFAULT-VALUE}).")
    Path sparse;

    @Option(names = "--base", defaultValue = "${sys:vitstream.home:-.}/models/base",
            description = "Dense base model (default: ${DEFAULT-VALUE}).")
    Path base;

    @Mixin
    DataOptions data;

    @Option(names = "--ratios", split = ",", defaultValue = "1.0,0.9,0.8,0.7,0.6,0.5",
            description = "Keep ratios (default: ${DEFAULT-VALUE}).")
    List<Double> ratios;

    @Option(names = "--methods", split = ",", defaultValue = "learned,cls-attention,tome,grid-merge",
            description = "Token reduction methods benchmarked besides the dense base (default: ${DEFAULT-VALUE}).")
    List<String> methods;

    @Option(names = "--engine", defaultValue = "both", paramLabel = "auto|onnxruntime|pytorch|both",
            description = "Engines timed, interleaved (default: ${DEFAULT-VALUE}).")
    String engine;

    @Option(names = "--batch", defaultValue = "64", description = "Batch size (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--seconds", defaultValue = "3", description = "Timing per row and round (default: ${DEFAULT-VALUE}).")
    double seconds;

    @Option(names = "--rounds", defaultValue = "2",
            description = "Timing rounds, interleaved over all rows; the best is kept (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--limit", description = "Use only the first N test images for accuracy (quick runs).")
    Integer limit;

    @Option(names = "--streams", split = ",", defaultValue = "1,0",
            description = {"Stream configurations timed: N forward passes side by side, cores/N threads each; 0 is one",
                "per core, as a worker's default inference lanes (default: ${DEFAULT-VALUE})."})
    List<Integer> streams;

    @Option(names = "--plot", defaultValue = "bench-out/sparsity.png", description = "PNG plot path (default: ${DEFAULT-VALUE}).")
    Path plot;

    /** {@code ips}: best images/s per engine (first index) and stream configuration (second). */
    private record Row(String method, double ratio, boolean packageToken, String tokens, long flops, double accuracy,
            double[][] ips) {}

    @Override
    public Integer call() throws Exception {
        if (batch < 1 || !(seconds > 0) || rounds < 1) {
            throw new UserError("--batch, --seconds and --rounds must be positive");
        }
        for (double r : ratios) {
            new KeepPolicy(r, KeepPolicy.Method.LEARNED, false);
        }
        List<KeepPolicy.Method> chosen;
        try {
            chosen = methods.stream().map(String::trim).map(KeepPolicy.Method::parse).distinct().toList();
        } catch (IllegalArgumentException e) {
            throw new UserError("--methods: " + e.getMessage());
        }
        List<Timing.Streams> configs = Timing.streams(streams);
        List<EngineKind> kinds = BenchEngines.parse(engine);
        PrintWriter out = spec.commandLine().getOut();
        data.checkAvailable();
        try (ModelArtifact.Loaded dense = ModelArtifact.load(base);
                ModelArtifact.Loaded learned = ModelArtifact.load(sparse);
                BenchEngines engines = new BenchEngines()) {
            if (chosen.contains(KeepPolicy.Method.LEARNED) && (learned.manifest().sparsifier() == null
                    || !learned.manifest().sparsifier().hasPredictors())) {
                throw new UserError("--sparse " + sparse + " has no learned token predictors");
            }
            LabeledImages test = data.test(dense.manifest().input().height());
            LabeledImages accuracySet = limit != null ? test.limit(limit) : test;
            List<Row> rows = new ArrayList<>();
            List<Timing.Timed> timed = new ArrayList<>();
            Rows add = new Rows(rows, timed, engines, kinds, configs.size(), accuracySet);
            add.row(dense, "dense base", KeepPolicy.dense());
            for (double r : ratios) {
                for (boolean pkg : new boolean[] {false, true}) {
                    if (r >= 1.0 && pkg) {
                        continue;
                    }
                    for (KeepPolicy.Method m : chosen) {
                        if (pkg && m.merges()) {
                            continue;
                        }
                        add.row(m == KeepPolicy.Method.LEARNED ? learned : dense, m.id(), new KeepPolicy(r, m, pkg));
                    }
                }
            }
            out.printf(Locale.ROOT, "timing %d rows x %s x %d rounds x %d stream configurations at batch %d (%d cores)"
                    + "...%n", rows.size(), BenchEngines.labels(kinds), rounds, configs.size(), batch,
                    Runtime.getRuntime().availableProcessors());
            out.flush();
            double[][][] best = Timing.best(engines, timed, kinds, configs, test, batch, seconds, rounds);
            for (int i = 0; i < rows.size(); i++) {
                for (int k = 0; k < kinds.size(); k++) {
                    System.arraycopy(best[i][k], 0, rows.get(i).ips()[k], 0, configs.size());
                }
            }
            double denseAcc = rows.get(0).accuracy();
            out.printf(Locale.ROOT, "%nbase %s, sparse %s; accuracy on %d test images on %s; images/s at batch %d on "
                    + "each engine, best of %d interleaved rounds of %.1f s, per stream configuration (streams x "
                    + "intra-op threads each; the streams share one engine) (speed-up: over the dense base on the "
                    + "same engine in the same configuration)%n%n", dense.manifest().version(),
                    learned.manifest().version(), accuracySet.count(), BenchEngines.label(kinds.get(0)), batch, rounds,
                    seconds);
            StringBuilder head = new StringBuilder("| method | keep ratio | package token | patch tokens per stage "
                    + "(merging: tokens after each block) | "
                    + "MFLOPs/image | accuracy | Δ acc (points) | engine |");
            StringBuilder rule = new StringBuilder("|---|---:|:---:|---|---:|---:|---:|---|");
            out.println(head.append(Timing.headerCells(configs, false)));
            out.println(rule.append(Timing.ruleCells(configs, false)));
            for (Row r : rows) {
                for (int k = 0; k < kinds.size(); k++) {
                    StringBuilder line = new StringBuilder(String.format(Locale.ROOT,
                            "| %s | %.1f | %s | %s | %.2f | %.4f | %+.2f | %s |", r.method(), r.ratio(),
                            r.packageToken() ? "yes" : "no", r.tokens(),
                            r.flops() / 1e6, r.accuracy(), 100 * (r.accuracy() - denseAcc),
                            BenchEngines.label(kinds.get(k))));
                    out.println(line.append(Timing.cells(r.ips()[k], rows.get(0).ips()[k], null)));
                }
            }
            out.flush();
            writePlot(rows, kinds, configs);
            out.println();
            out.println("plot: " + plot);
        }
        out.flush();
        return 0;
    }

    /** Builds the rows: accuracy once per row, on the first engine, which also times it. */
    private final class Rows {
        private final List<Row> rows;
        private final List<Timing.Timed> timed;
        private final BenchEngines engines;
        private final List<EngineKind> kinds;
        private final int configs;
        private final LabeledImages data;

        Rows(List<Row> rows, List<Timing.Timed> timed, BenchEngines engines, List<EngineKind> kinds, int configs,
                LabeledImages data) {
            this.rows = rows;
            this.timed = timed;
            this.engines = engines;
            this.kinds = kinds;
            this.configs = configs;
            this.data = data;
        }

        void row(ModelArtifact.Loaded m, String method, KeepPolicy policy) {
            VitConfig arch = m.manifest().architecture();
            SparsifierConfig stages = SparseForward.stagesFor(m.model().network(), policy);
            String tokens;
            if (policy.merges()) {
                tokens = Arrays.toString(MergeSchedule.forPolicy(arch, stages.stages(), policy).mlpTokens());
            } else if (policy.isDense() || stages == null) {
                tokens = String.valueOf(arch.numPatches());
            } else {
                tokens = Arrays.toString(SparseForward.patchesPerStage(arch.numPatches(), stages.stages(),
                        policy.keepRatio()));
            }
            // The one-stream engine of the first kind, as the timing opens it: built once, used for both.
            Timing.Streams one = Timing.Streams.of(1);
            BenchEngines.usePyTorchThreads(kinds.get(0), one.threads());
            double acc = Evaluator.evaluate(engines.engine(kinds.get(0), m, policy, one.threads(), 0),
                    arch.numClasses(), m.manifest().input(), data, 256, policy).accuracy();
            rows.add(new Row(method, policy.keepRatio(), policy.packageToken(), tokens,
                    SparseForward.flopsPerImage(arch, stages, policy), acc, new double[kinds.size()][configs]));
            timed.add(new Timing.Timed(m, policy));
            spec.commandLine().getOut().printf(Locale.ROOT, "  %-13s ratio %.1f%s: accuracy %.4f (%s)%n", method,
                    policy.keepRatio(), policy.packageToken() ? " +package" : "", acc, BenchEngines.label(kinds.get(0)));
            spec.commandLine().getOut().flush();
        }
    }

    /**
     * The plot shows the last stream configuration (by default the worker's: one lane per core), a series per method
     * and engine (ORT: ONNX Runtime; DJL: PyTorch, in lighter colours; short, so the legend fits).
     */
    private void writePlot(List<Row> rows, List<EngineKind> kinds, List<Timing.Streams> configs)
            throws java.io.IOException {
        int shown = configs.size() - 1;
        Map<String, List<ScatterPlot.Point>> series = new LinkedHashMap<>();
        for (int k = 0; k < kinds.size(); k++) {
            for (Row r : rows) {
                String key = (r.method().equals("dense base") ? "dense base"
                        : r.method() + (r.packageToken() ? " + package token" : ""))
                        + (kinds.size() > 1 ? (kinds.get(k) == EngineKind.PYTORCH ? ", DJL" : ", ORT") : "");
                series.computeIfAbsent(key, x -> new ArrayList<>()).add(new ScatterPlot.Point(r.ips()[k][shown],
                        r.accuracy(), String.format(Locale.ROOT, "%.1f", r.ratio())));
            }
        }
        ScatterPlot p = new ScatterPlot("Token sparsification: accuracy vs images/s (batch " + batch + ", "
                + configs.get(shown).label() + ")",
                "images/s", "test accuracy");
        Color[] colors = {Color.BLACK, new Color(0, 102, 204), new Color(204, 51, 0), new Color(0, 153, 102),
            new Color(153, 102, 0)};
        int perEngine = series.size() / kinds.size();
        int c = 0;
        for (Map.Entry<String, List<ScatterPlot.Point>> e : series.entrySet()) {
            Color color = colors[c % perEngine % colors.length];
            if (c++ >= perEngine) {
                color = lighter(color);
            }
            p.add(new ScatterPlot.Series(e.getKey(), color, !e.getKey().startsWith("dense base"), e.getValue()));
        }
        p.write(plot);
    }

    private static Color lighter(Color c) {
        return new Color((c.getRed() + 255) / 2, (c.getGreen() + 255) / 2, (c.getBlue() + 255) / 2);
    }
}
