package io.vitstream.cli;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.LabeledImages;
import io.vitstream.evaluation.Evaluator;
import io.vitstream.model.VitConfig;
import io.vitstream.sparsity.KeepPolicy;
import io.vitstream.sparsity.SparseForward;
import io.vitstream.sparsity.SparsifierConfig;
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
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code vitstream bench sparsity}: accuracy, FLOPs and images/s across keep ratios for the learned predictors and
 * the training-free CLS-attention baseline, against the dense base measured in the same run.
 */
@Command(name = "sparsity", mixinStandardHelpOptions = true,
        description = {
            "Token sparsification benchmark: for each keep ratio, accuracy on the test set, FLOPs per image,",
            "images/s at a fixed batch and speed-up over the dense base measured in the same run, for the learned",
            "predictors (--sparse model) and the CLS-attention baseline (on the dense --base model), each with and",
            "without a package token. Prints a Markdown table and writes a PNG plot of accuracy against images/s."
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

    private record Row(String method, double ratio, boolean packageToken, int[] patches, long flops, double accuracy,
            double[] ips) {}

    @Override
    public Integer call() throws Exception {
        if (batch < 1 || !(seconds > 0) || rounds < 1) {
            throw new UserError("--batch, --seconds and --rounds must be positive");
        }
        for (double r : ratios) {
            new KeepPolicy(r, KeepPolicy.Method.LEARNED, false);
        }
        List<Integer> configs = Timing.streams(streams);
        PrintWriter out = spec.commandLine().getOut();
        data.checkAvailable();
        try (ModelArtifact.Loaded dense = ModelArtifact.load(base);
                ModelArtifact.Loaded learned = ModelArtifact.load(sparse)) {
            if (learned.manifest().sparsifier() == null || !learned.manifest().sparsifier().hasPredictors()) {
                throw new UserError("--sparse " + sparse + " has no learned token predictors");
            }
            VitConfig arch = dense.manifest().architecture();
            LabeledImages test = data.test(dense.manifest().input().height());
            LabeledImages accuracySet = limit != null ? test.limit(limit) : test;
            List<Row> rows = new ArrayList<>();
            List<ModelArtifact.Loaded> modelOfRow = new ArrayList<>();
            List<KeepPolicy> policyOfRow = new ArrayList<>();
            addRow(rows, modelOfRow, policyOfRow, dense, "dense base", KeepPolicy.dense(), accuracySet);
            for (double r : ratios) {
                for (boolean pkg : new boolean[] {false, true}) {
                    if (r >= 1.0 && pkg) {
                        continue;
                    }
                    addRow(rows, modelOfRow, policyOfRow, learned, "learned", new KeepPolicy(r, KeepPolicy.Method.LEARNED, pkg),
                            accuracySet);
                    addRow(rows, modelOfRow, policyOfRow, dense, "cls-attention",
                            new KeepPolicy(r, KeepPolicy.Method.CLS_ATTENTION, pkg), accuracySet);
                }
            }
            out.printf(Locale.ROOT, "timing %d rows x %d rounds x %d stream configurations at batch %d (%d cores)...%n",
                    rows.size(), rounds, configs.size(), batch, Runtime.getRuntime().availableProcessors());
            out.flush();
            List<Timing.Timed> timed = new ArrayList<>();
            for (int i = 0; i < rows.size(); i++) {
                ModelArtifact.Loaded m = modelOfRow.get(i);
                timed.add(new Timing.Timed(m.model(), m.manifest().input(), policyOfRow.get(i)));
            }
            double[][] best = Timing.best(timed, configs, test, batch, seconds, rounds);
            for (int i = 0; i < rows.size(); i++) {
                System.arraycopy(best[i], 0, rows.get(i).ips(), 0, configs.size());
            }
            double[] denseIps = rows.get(0).ips();
            double denseAcc = rows.get(0).accuracy();
            out.printf(Locale.ROOT, "%nbase %s, sparse %s; accuracy on %d test images; images/s at batch %d, best of %d"
                    + " interleaved rounds of %.0f s, per stream configuration (speed-up: over the dense base in the"
                    + " same configuration)%n%n", dense.manifest().version(), learned.manifest().version(),
                    accuracySet.count(), batch, rounds, seconds);
            StringBuilder head = new StringBuilder("| method | keep ratio | package token | patch tokens per stage | "
                    + "MFLOPs/image | accuracy | Δ acc (points) |");
            StringBuilder rule = new StringBuilder("|---|---:|:---:|---|---:|---:|---:|");
            out.println(head.append(Timing.headerCells(configs)));
            out.println(rule.append(Timing.ruleCells(configs)));
            for (Row r : rows) {
                StringBuilder line = new StringBuilder(String.format(Locale.ROOT,
                        "| %s | %.1f | %s | %s | %.2f | %.4f | %+.2f |", r.method(), r.ratio(),
                        r.packageToken() ? "yes" : "no",
                        r.patches().length == 0 ? String.valueOf(arch.numPatches()) : Arrays.toString(r.patches()),
                        r.flops() / 1e6, r.accuracy(), 100 * (r.accuracy() - denseAcc)));
                out.println(line.append(Timing.cells(r.ips(), denseIps)));
            }
            out.flush();
            writePlot(rows, configs);
            out.println();
            out.println("plot: " + plot);
        }
        out.flush();
        return 0;
    }

    private void addRow(List<Row> rows, List<ModelArtifact.Loaded> models, List<KeepPolicy> policies,
            ModelArtifact.Loaded m, String method, KeepPolicy policy, LabeledImages data) {
        VitConfig arch = m.manifest().architecture();
        SparsifierConfig stages = SparseForward.stagesFor(m.model().network(), policy);
        int[] patches = policy.isDense() || stages == null ? new int[0]
                : SparseForward.patchesPerStage(arch.numPatches(), stages.stages(), policy.keepRatio());
        double acc = Evaluator.evaluate(m.model(), m.manifest().input(), data, 256, policy).accuracy();
        rows.add(new Row(method, policy.keepRatio(), policy.packageToken(), patches,
                SparseForward.flopsPerImage(arch, stages, policy), acc, new double[Timing.streams(streams).size()]));
        models.add(m);
        policies.add(policy);
        spec.commandLine().getOut().printf(Locale.ROOT, "  %-13s ratio %.1f%s: accuracy %.4f%n", method,
                policy.keepRatio(), policy.packageToken() ? " +package" : "", acc);
        spec.commandLine().getOut().flush();
    }

    /** The plot shows the last stream configuration (by default the worker's: one lane per core). */
    private void writePlot(List<Row> rows, List<Integer> configs) throws java.io.IOException {
        int shown = configs.size() - 1;
        Map<String, List<ScatterPlot.Point>> series = new LinkedHashMap<>();
        for (Row r : rows) {
            String key = r.method().equals("dense base") ? "dense base"
                    : r.method() + (r.packageToken() ? " + package token" : "");
            series.computeIfAbsent(key, k -> new ArrayList<>())
                    .add(new ScatterPlot.Point(r.ips()[shown], r.accuracy(), String.format(Locale.ROOT, "%.1f", r.ratio())));
        }
        ScatterPlot p = new ScatterPlot("Token sparsification: accuracy vs images/s (batch " + batch + ", "
                + Timing.label(configs.get(shown)) + ")",
                "images/s", "test accuracy");
        Color[] colors = {Color.BLACK, new Color(0, 102, 204), new Color(204, 51, 0), new Color(0, 153, 102),
            new Color(153, 102, 0)};
        int c = 0;
        for (Map.Entry<String, List<ScatterPlot.Point>> e : series.entrySet()) {
            p.add(new ScatterPlot.Series(e.getKey(), colors[c++ % colors.length], !e.getKey().equals("dense base"),
                    e.getValue()));
        }
        p.write(plot);
    }
}
