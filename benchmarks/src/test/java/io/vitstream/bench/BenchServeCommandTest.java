package io.vitstream.bench;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.cli.CliRun;
import io.vitstream.data.FashionMnist;
import io.vitstream.data.InputSpec;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import io.vitstream.util.Seeds;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bench serve} on a tiny model through an embedded broker, once per worker engine (speed is not asserted). */
@Tag("integration")
class BenchServeCommandTest {
    @TempDir
    Path tmp;

    @Test
    void servesOnEachEngineAgainstTheModelOnlyFiguresOfThatEngine() {
        VitConfig config = VitConfig.uniform(28, 1, 7, 0, 16, 2, 2, 32, 10);
        Seeds.seedAll(7);
        Path model = tmp.resolve("tiny");
        try (VitModel m = VitModel.create(config)) {
            ModelArtifact.save(model, m, new Manifest(Manifest.FORMAT_VERSION, "tiny", null, config,
                    FashionMnist.CLASS_NAMES, InputSpec.fashionMnist(), 0, 0, null, null, Map.of(), null,
                    "2026-12-01T00:00:00Z"));
        }
        CliRun run = CliRun.of("bench", "serve", "--model", model.toString(), "--engine", "both", "--placement",
                "shared", "--batch-max-size", "8", "--images", "100", "--warm-up-images", "0", "--rounds", "1",
                "--inference-lanes", "1");
        assertThat(run.code()).as(run.err()).isZero();
        String text = run.out();
        assertThat(text).contains("worker engine onnxruntime, pytorch")
                .contains("| engine | placement | batch limit | model-only images/s, 1 stream |");
        int cores = BenchServeCommand.Placement.cores();
        for (String engine : List.of("onnxruntime", "pytorch")) {
            List<String> rows = text.lines().filter(l -> l.startsWith("| " + engine + " | shared | 8 |")).toList();
            assertThat(rows).as(engine).hasSize(2); // the main table and the phase table
            String[] cells = rows.get(0).split("\\|");
            // Model-only on the worker's engine, with its thread settings; the ratio is served over the better.
            String oneStream = "(1 stream x " + cores + " thread" + (cores == 1 ? "" : "s") + ")";
            assertThat(cells[4].trim()).endsWith(oneStream);
            assertThat(cells[5].trim()).endsWith(oneStream); // one lane: one stream over the worker's cores
            double one = Double.parseDouble(cells[4].trim().split(" ")[0]);
            double lanes = Double.parseDouble(cells[5].trim().split(" ")[0]);
            double served = Double.parseDouble(cells[6].trim().split(" ")[0]);
            double ratio = Double.parseDouble(cells[7].trim());
            assertThat(ratio).isCloseTo(served / Math.max(one, lanes),
                    org.assertj.core.data.Offset.offset(0.006 + (1 + ratio) * 0.5 / Math.max(one, lanes)));
            assertThat(text).contains(engine + ", shared, batch limit 8 (round 1): wall");
        }
    }
}
