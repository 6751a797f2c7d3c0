package io.vitstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.vitstream.testing.TestData;
import io.vitstream.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@code evaluate --split validation} scores the very images training held out, never the test set. */
class EvaluateCommandTest {
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
