package io.vitstream.bench;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.cli.CliRun;
import io.vitstream.cli.Main;
import io.vitstream.data.FashionMnist;
import io.vitstream.data.InputSpec;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import io.vitstream.sparsity.MergeSchedule;
import io.vitstream.util.Seeds;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The benchmark commands run end to end on tiny real models and print their tables (speed is not asserted). */
@Tag("integration")
class BenchCommandsTest {
    @TempDir
    Path tmp;

    private Path save(String name, SparsifierConfig sparsifier) {
        VitConfig config = VitConfig.uniform(28, 1, 7, 0, 16, 4, 2, 32, 10);
        Seeds.seedAll(name.hashCode());
        try (VitModel m = VitModel.create(config, sparsifier)) {
            ModelArtifact.save(tmp.resolve(name), m, new Manifest(Manifest.FORMAT_VERSION, name, null, config,
                    FashionMnist.CLASS_NAMES, InputSpec.fashionMnist(), 0, 0, null, null, Map.of(), null,
                    "2026-11-28T00:00:00Z"));
        }
        return tmp.resolve(name);
    }

    @Test
    void sparsityBenchPrintsEveryRowAndWritesAPlot() throws Exception {
        Path dense = save("dense", null);
        // The baseline runs on the dense model with the default stages, which are these for depth 4.
        Path sparse = save("sparse", new SparsifierConfig(SparsifierConfig.defaultStages(4), 8, 0.5, 1.0));
        Path plot = tmp.resolve("plot.png");
        StringWriter out = new StringWriter();
        int code = Main.run(new PrintWriter(out, true), new PrintWriter(new StringWriter(), true), "bench", "sparsity",
                "--base", dense.toString(), "--sparse", sparse.toString(), "--ratios", "1.0,0.5", "--limit", "200",
                "--seconds", "0.05", "--rounds", "1", "--plot", plot.toString());
        assertThat(code).isZero();
        String table = out.toString();
        // dense + (ratio 1.0: learned, cls, tome, grid-merge) + (ratio 0.5: those four, and learned and cls with a
        // package token), each on both engines (the default), ONNX Runtime's line first.
        List<String> rows = table.lines().filter(l -> l.startsWith("| ") && !l.startsWith("| method")).toList();
        assertThat(rows).hasSize(22);
        for (int i = 0; i < rows.size(); i += 2) {
            String[] ort = rows.get(i).split("\\|");
            String[] djl = rows.get(i + 1).split("\\|");
            assertThat(ort[8].trim()).isEqualTo("onnxruntime");
            assertThat(djl[8].trim()).isEqualTo("pytorch");
            // The same row: everything before the engine is alike (accuracy measured once, on ONNX Runtime).
            assertThat(String.join("|", Arrays.copyOfRange(ort, 0, 8)))
                    .isEqualTo(String.join("|", Arrays.copyOfRange(djl, 0, 8)));
            // Two stream configurations: images/s and speed-up each.
            assertThat(ort).hasSize(13);
            assertThat(Double.parseDouble(ort[9].trim())).isPositive();
            assertThat(Double.parseDouble(djl[11].trim())).isPositive();
        }
        // The dense base is each engine's own baseline.
        assertThat(rows.get(0)).contains("| 1.00x |");
        assertThat(rows.get(1)).contains("| 1.00x |");
        assertThat(table).contains("| learned | 0.5 | no | [8, 4, 2] |").contains("| cls-attention | 0.5 | yes | [8, 4, 2] |");
        // The merging rows: the tokens after each block of the schedule 0.5 picks, at its FLOPs.
        VitConfig arch = VitConfig.uniform(28, 1, 7, 0, 16, 4, 2, 32, 10);
        for (KeepPolicy.Method m : List.of(KeepPolicy.Method.TOME, KeepPolicy.Method.GRID_MERGE)) {
            MergeSchedule s = MergeSchedule.forPolicy(arch, SparsifierConfig.defaultStages(4),
                    new KeepPolicy(0.5, m, false));
            assertThat(table).contains(String.format(java.util.Locale.ROOT, "| %s | 0.5 | no | %s | %.2f |", m.id(),
                    Arrays.toString(s.mlpTokens()), s.flops() / 1e6));
        }
        // Timed both ways: one stream over every core, and one stream per core as the worker's lanes run; the header
        // names the threads of each.
        assertThat(table).contains("images/s, " + Timing.label(1))
                .contains("images/s, " + Timing.label(Runtime.getRuntime().availableProcessors()))
                .contains("at batch 64 on each engine").contains("accuracy on 200 test images on onnxruntime");
        BufferedImage png = ImageIO.read(plot.toFile());
        assertThat(png.getWidth()).isGreaterThan(100);
    }

    @Test
    void pruneBenchTimesFourRowsAndSplitsTheForwardPassAtTheEmbedding() throws Exception {
        SparsifierConfig stages = new SparsifierConfig(SparsifierConfig.defaultStages(4), 8, 0.5, 1.0);
        Path dense = save("dense", null);
        Path sparse = save("sparse", stages);
        Path pruned = save("pruned", stages);
        Path plot = tmp.resolve("prune.png");
        StringWriter out = new StringWriter();
        int code = Main.run(new PrintWriter(out, true), new PrintWriter(new StringWriter(), true), "bench", "prune",
                "--base", dense.toString(), "--sparse", sparse.toString(), "--pruned", pruned.toString(),
                "--no-compare", "--limit", "200", "--seconds", "0.05", "--rounds", "1", "--streams", "2",
                "--plot", plot.toString());
        assertThat(code).isZero();
        String text = out.toString();
        List<String> rows = text.lines().filter(l -> l.startsWith("| dense base |") || l.startsWith("| token only |")
                || l.startsWith("| structure only |") || l.startsWith("| combined |")).toList();
        // Four rows on two engines in the main table, four in the breakdown (PyTorch's).
        assertThat(rows).hasSize(12);
        assertThat(rows.get(2)).contains("| 0.7 |"); // token only at the default keep ratio
        assertThat(rows.get(6)).contains("| pruned | 0.7 |");
        assertThat(text).contains("| engine | images/s, " + Timing.label(2) + " | speed-up | vs dense on pytorch |");
        String[] denseOrt = rows.get(0).split("\\|");
        String[] denseDjl = rows.get(1).split("\\|");
        double ortDense = Double.parseDouble(denseOrt[9].trim());
        double djlDense = Double.parseDouble(denseDjl[9].trim());
        for (int i = 0; i < 8; i++) {
            String[] cells = rows.get(i).split("\\|");
            assertThat(cells[8].trim()).isEqualTo(i % 2 == 0 ? "onnxruntime" : "pytorch");
            double ips = Double.parseDouble(cells[9].trim());
            double sameEngine = Double.parseDouble(cells[10].trim().replace("x", ""));
            double overDjl = Double.parseDouble(cells[11].trim().replace("x", ""));
            // Images/s print without decimals: the ratios agree with them up to that rounding.
            double base = i % 2 == 0 ? ortDense : djlDense;
            assertThat(sameEngine).isCloseTo(ips / base, ratioRounding(ips, base));
            assertThat(overDjl).isCloseTo(ips / djlDense, ratioRounding(ips, djlDense));
            if (i % 2 == 1) {
                assertThat(overDjl).isEqualTo(sameEngine);
            }
        }
        double denseForward = Double.parseDouble(rows.get(8).split("\\|")[2].trim());
        for (int i = 0; i < 4; i++) {
            String[] main = rows.get(2 * i + 1).split("\\|"); // the row on PyTorch, whose time is split
            String[] cells = rows.get(8 + i).split("\\|");
            double forward = Double.parseDouble(cells[2].trim());
            double embedding = Double.parseDouble(cells[3].trim());
            double rest = Double.parseDouble(cells[5].trim());
            // Two streams of batches of 64 together make the main table's images/s (printed without decimals).
            double imagesPerSecond = Double.parseDouble(main[9].trim());
            assertThat(forward).isCloseTo(1000.0 * 64 * 2 / imagesPerSecond, org.assertj.core.data.Offset.offset(
                    0.06 + 1000.0 * 64 * 2 / imagesPerSecond * 0.5 / imagesPerSecond));
            assertThat(embedding).isPositive();
            // One decimal printed per figure: the rest is what the embedding leaves of the forward pass.
            assertThat(rest).isCloseTo(forward - embedding, org.assertj.core.data.Offset.offset(0.11));
            String bound = cells[8].trim();
            if (rest > 0.5) { // a tiny rest measured apart from the forward pass may print n/a
                assertThat(Double.parseDouble(bound.replace("x", "")))
                        .isCloseTo(denseForward / rest, org.assertj.core.data.Percentage.withPercentage(15));
            }
        }
        assertThat(ImageIO.read(plot.toFile()).getWidth()).isGreaterThan(100);
    }

    /** How far a 2-decimal ratio may be from the ratio of two images/s printed without decimals. */
    private static org.assertj.core.data.Offset<Double> ratioRounding(double ips, double base) {
        return org.assertj.core.data.Offset.offset(0.006 + (1 + ips / base) * 0.5 / base);
    }

    @Test
    void pruneBenchAccuracyIsTheSameOnEitherEngine() {
        SparsifierConfig stages = new SparsifierConfig(SparsifierConfig.defaultStages(4), 8, 0.5, 1.0);
        Path dense = save("dense", null);
        Path sparse = save("sparse", stages);
        Path pruned = save("pruned", stages);
        List<List<String>> accuracies = new java.util.ArrayList<>();
        for (String engine : new String[] {"onnxruntime", "pytorch"}) {
            CliRun run = CliRun.of("bench", "prune", "--engine", engine, "--base", dense.toString(), "--sparse",
                    sparse.toString(), "--pruned", pruned.toString(), "--no-compare", "--limit", "300", "--seconds",
                    "0.02", "--rounds", "1", "--streams", "1", "--plot", tmp.resolve(engine + ".png").toString());
            assertThat(run.code()).as(run.err()).isZero();
            List<String> rows = run.out().lines().filter(l -> l.startsWith("| ") && l.contains("| " + engine + " |"))
                    .toList();
            assertThat(rows).hasSize(4);
            // One engine: no column over PyTorch's dense base.
            assertThat(run.out()).doesNotContain("vs dense on pytorch");
            accuracies.add(rows.stream().map(l -> l.split("\\|")[6].trim()).toList());
            if (engine.equals("onnxruntime")) {
                assertThat(run.out()).contains("Where the time goes: measured on PyTorch only");
            }
        }
        // Accuracy is printed with 4 decimals; both engines give the same.
        assertThat(accuracies.get(0)).isEqualTo(accuracies.get(1));
    }

    @Test
    void modelBenchTimesBothEnginesInterleavedAgainstTheirSgemmPeaks() throws Exception {
        Path dense = save("dense", null);
        CliRun run = CliRun.of("bench", "model", "--model", dense.toString(), "--batches", "1,4", "--seconds", "0.05",
                "--rounds", "2", "--lanes", "2", "--threads", "2", "--json");
        assertThat(run.code()).as(run.err()).isZero();
        String text = run.out();
        assertThat(text).contains("sgemm peak").contains("onnxruntime (one-node MatMul graph)")
                .contains("pytorch (DJL NDArray.matMul)").contains("best of 2 interleaved rounds");
        List<String> rows = text.lines().filter(l -> l.matches("\\|\\s+\\d+ \\|.*")).toList();
        // Per batch: both engines in one stream x 2 threads and in 2 streams x 1 thread on one engine, and ONNX
        // Runtime with an engine (session) per stream.
        List<String> expected = List.of("onnxruntime | 1 stream x 2 threads", "pytorch | 1 stream x 2 threads",
                "onnxruntime | 2 streams x 1 thread", "pytorch | 2 streams x 1 thread",
                "onnxruntime | 2 streams x 1 thread, an engine each");
        assertThat(rows).hasSize(10);
        for (int i = 0; i < rows.size(); i++) {
            assertThat(rows.get(i)).startsWith(i < 5 ? "|     1 |" : "|     4 |").contains(expected.get(i % 5));
            assertThat(rows.get(i)).endsWith(expected.get(i % 5).startsWith("pytorch") ? "| 1.00x |" : "x |");
        }
        com.fasterxml.jackson.databind.JsonNode json = io.vitstream.util.Json.MAPPER.readTree(
                text.lines().reduce((a, b) -> b).orElseThrow());
        assertThat(json.get("sgemm_peak_gflops_by_engine").has("onnxruntime")).isTrue();
        assertThat(json.get("sgemm_peak_gflops_by_engine").has("pytorch")).isTrue();
        double peak = json.get("sgemm_peak_gflops").asDouble();
        assertThat(peak).isPositive();
        assertThat(json.get("rows")).hasSize(10);
        for (com.fasterxml.jackson.databind.JsonNode r : json.get("rows")) {
            // GFLOP/s is FLOPs per image x images/s, and the ratio is against the highest peak.
            assertThat(r.get("gflops").asDouble()).isCloseTo(r.get("images_per_second").asDouble()
                    * json.get("flops_per_image").asLong() / 1e9, org.assertj.core.data.Percentage.withPercentage(1e-6));
            assertThat(r.get("peak_ratio").asDouble()).isCloseTo(r.get("gflops").asDouble() / peak,
                    org.assertj.core.data.Percentage.withPercentage(1e-6));
        }
    }

    @Test
    void modelBenchOnOneEngine() {
        Path dense = save("dense", null);
        CliRun run = CliRun.of("bench", "model", "--model", dense.toString(), "--batches", "2", "--seconds", "0.05",
                "--rounds", "1", "--engine", "auto");
        assertThat(run.code()).as(run.err()).isZero();
        List<String> rows = run.out().lines().filter(l -> l.startsWith("|     2 |")).toList();
        assertThat(rows).hasSize(1);
        assertThat(rows.get(0)).contains("| onnxruntime | 1 stream x ");
        assertThat(run.out()).doesNotContain("vs pytorch").doesNotContain("DJL NDArray.matMul");
    }

    @Test
    void everyBenchRefusesAnUnknownEngineInOneLine() {
        for (String bench : new String[] {"model", "sparsity", "prune", "serve"}) {
            CliRun run = CliRun.of("bench", bench, "--engine", "tensorflow");
            assertThat(run.code()).as(bench).isEqualTo(2);
            assertThat(run.err().strip()).as(bench)
                    .isEqualTo("error: --engine must be auto, onnxruntime, pytorch or both, got 'tensorflow'");
            assertThat(run.out()).as(bench).isEmpty();
        }
    }
}
