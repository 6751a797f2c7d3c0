package io.vitstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.vitstream.model.FlopCounter;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.VitConfig;
import io.vitstream.sparsity.MergeSchedule;
import io.vitstream.testing.TestData;
import io.vitstream.testkit.TestModels;
import io.vitstream.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code evaluate --split validation} scores the very images training held out, never the test set; the token-merging
 * methods run on any model and report the schedule the keep ratio chose.
 */
class EvaluateCommandTest {
    @TempDir
    Path tmp;

    @Test
    void tomeAndGridMergeRunOnATinyModelOnBothEnginesAndReportTheirSchedule() throws Exception {
        Path tiny = TestModels.tiny(tmp, "tiny-v1", null, 5);
        VitConfig arch = TestModels.TINY;
        for (String method : new String[] {"tome", "grid-merge"}) {
            KeepPolicy policy = new KeepPolicy(0.5, KeepPolicy.Method.parse(method), false);
            MergeSchedule schedule = MergeSchedule.forPolicy(arch, SparsifierConfig.defaultStages(arch.depth()),
                    policy);
            double[] accuracy = new double[2];
            String[] engines = {"onnxruntime", "pytorch"};
            for (int e = 0; e < engines.length; e++) {
                CliRun r = CliRun.of("evaluate", "--model", tiny.toString(), "--data-dir",
                        TestData.fashionMnist().toString(), "--limit", "200", "--method", method, "--keep-ratio", "0.5",
                        "--engine", engines[e], "--json");
                assertThat(r.code()).as(r.err()).isZero();
                String[] lines = r.out().strip().split("\n");
                JsonNode json = Json.MAPPER.readTree(lines[lines.length - 1]);
                assertThat(json.path("method").asText()).isEqualTo(method);
                assertThat(json.path("images").asInt()).isEqualTo(200);
                assertThat(json.path("flops_per_image").asLong()).isEqualTo(schedule.flops())
                        .isLessThan(FlopCounter.perImage(arch));
                assertThat(Json.MAPPER.convertValue(json.path("merges_per_block"), int[].class))
                        .containsExactly(schedule.merges());
                assertThat(Json.MAPPER.convertValue(json.path("tokens_after_merge"), int[].class))
                        .containsExactly(schedule.mlpTokens());
                assertThat(r.out()).contains("keep ratio 0.50 (" + method + "): " + schedule.describe());
                accuracy[e] = json.path("accuracy").asDouble();
            }
            // The same merges on both engines: the same predictions.
            assertThat(accuracy[0]).as(method).isEqualTo(accuracy[1]);
        }
        CliRun pkg = CliRun.of("evaluate", "--model", tiny.toString(), "--data-dir",
                TestData.fashionMnist().toString(), "--limit", "10", "--method", "tome", "--keep-ratio", "0.5",
                "--package-token");
        assertThat(pkg.code()).isEqualTo(2);
        assertThat(pkg.err().strip()).startsWith("error: the package token is for the token-dropping methods")
                .doesNotContain("\n");
    }

    @Test
    void theValidationSplitIsTheOneTrainingHeldOut() throws Exception {
        Path base = TestData.repoRoot().resolve("models/base");
        CliRun r = CliRun.of("evaluate", "--model", base.toString(), "--data-dir", TestData.fashionMnist().toString(),
                "--split", "validation", "--json");
        assertThat(r.code()).as(r.err()).isZero();
        String[] lines = r.out().strip().split("\n");
        JsonNode json = Json.MAPPER.readTree(lines[lines.length - 1]);
        assertThat(json.path("split").asText()).isEqualTo("validation");
        assertThat(json.path("images").asInt()).isEqualTo(5000);
        // The training command measured this accuracy on its held-out images: the same images give the same figure.
        JsonNode manifest = Json.MAPPER.readTree(Files.readString(base.resolve("manifest.json")));
        assertThat(json.path("accuracy").asDouble()).isEqualTo(manifest.path("validation_accuracy").asDouble());
        assertThat(r.out()).contains("on 5000 validation images");
    }
}
