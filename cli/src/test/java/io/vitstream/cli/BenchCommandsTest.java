package io.vitstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.FashionMnist;
import io.vitstream.data.InputSpec;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import io.vitstream.sparsity.SparsifierConfig;
import io.vitstream.util.Seeds;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The benchmark commands run end to end on tiny real models and print their tables (speed is not asserted). */
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
        // dense + (ratio 1.0: learned, cls) + (ratio 0.5: learned, cls, each with and without package token)
        assertThat(table.lines().filter(l -> l.startsWith("| ") && !l.startsWith("| method"))).hasSize(7);
        assertThat(table).contains("| learned | 0.5 | no | [8, 4, 2] |").contains("| cls-attention | 0.5 | yes | [8, 4, 2] |");
        // Timed both ways: one stream over every core, and one stream per core as the worker's lanes run.
        assertThat(table).contains("images/s, " + Timing.label(1))
                .contains("images/s, " + Timing.label(Runtime.getRuntime().availableProcessors()));
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
        assertThat(rows).hasSize(8); // four in the main table, four in the breakdown
        assertThat(rows.get(1)).contains("| 0.7 |"); // token only at the default keep ratio
        assertThat(rows.get(3)).contains("| pruned | 0.7 |");
        double denseForward = Double.parseDouble(rows.get(4).split("\\|")[2].trim());
        for (int i = 0; i < 4; i++) {
            String[] main = rows.get(i).split("\\|");
            String[] cells = rows.get(4 + i).split("\\|");
            double forward = Double.parseDouble(cells[2].trim());
            double embedding = Double.parseDouble(cells[3].trim());
            double rest = Double.parseDouble(cells[5].trim());
            // Two streams of batches of 64 together make the main table's images/s (printed without decimals).
            double imagesPerSecond = Double.parseDouble(main[8].trim());
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

    @Test
    void modelBenchReportsThePeakRatio() {
        Path dense = save("dense", null);
        StringWriter out = new StringWriter();
        int code = Main.run(new PrintWriter(out, true), new PrintWriter(new StringWriter(), true), "bench", "model",
                "--model", dense.toString(), "--batches", "1,4", "--seconds", "0.05", "--json");
        assertThat(code).isZero();
        assertThat(out.toString()).contains("sgemm peak").contains("|     1 |").contains("|     4 |")
                .contains("\"sgemm_peak_gflops\"");
    }
}
