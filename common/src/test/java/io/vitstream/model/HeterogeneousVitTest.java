package io.vitstream.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.nn.Parameter;
import io.vitstream.util.Json;
import io.vitstream.util.Seeds;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A structurally pruned model is the same class with smaller numbers, built from its manifest alone. */
class HeterogeneousVitTest {
    private static final String ARCH = """
            {"image_size": 28, "channels": 1, "patch_size": 7, "stem_channels": 4, "dim": 24, "num_classes": 10,
             "blocks": [{"heads": 3, "head_dim": 8, "mlp_dim": 48},
                        {"heads": 1, "head_dim": 8, "mlp_dim": 5},
                        {"heads": 2, "head_dim": 8, "mlp_dim": 96}]}
            """;

    @Test
    void buildsFromJsonAndRunsWithPerBlockShapes() throws Exception {
        VitConfig config = Json.MAPPER.readValue(ARCH, VitConfig.class);
        Seeds.seedAll(1);
        try (VitModel model = VitModel.create(config)) {
            Map<String, Parameter> p = model.namedParameters();
            assertThat(p.get("block0.attention.qkv.weight").getArray().getShape().getShape())
                    .containsExactly(3 * 3 * 8, 24);
            assertThat(p.get("block1.attention.qkv.weight").getArray().getShape().getShape())
                    .containsExactly(3 * 1 * 8, 24);
            assertThat(p.get("block1.attention.proj.weight").getArray().getShape().getShape())
                    .containsExactly(24, 8);
            assertThat(p.get("block1.mlp.fc1.weight").getArray().getShape().getShape()).containsExactly(5, 24);
            assertThat(p.get("block2.mlp.fc2.weight").getArray().getShape().getShape()).containsExactly(24, 96);
            assertThat(p.get("embedding.positions").getArray().getShape().getShape()).containsExactly(1, 17, 24);

            float[] pixels = new float[3 * 28 * 28];
            for (int i = 0; i < pixels.length; i++) {
                pixels[i] = (float) Math.sin(i * 0.37);
            }
            float[][] logits = model.logits(pixels, 3);
            assertThat(logits).hasDimensions(3, 10);
            for (float[] row : logits) {
                for (float v : row) {
                    assertThat(v).isFinite();
                }
            }
            // Different inputs give different outputs: the network actually reads its input.
            assertThat(logits[0]).isNotEqualTo(logits[1]);
        }
    }

    @Test
    void rejectsInvalidArchitectures() {
        assertThatThrownBy(() -> Json.MAPPER.readValue(ARCH.replace("\"heads\": 1", "\"heads\": 0"), VitConfig.class))
                .hasMessageContaining("at least one attention head");
        assertThatThrownBy(() -> Json.MAPPER.readValue(ARCH.replace("\"patch_size\": 7", "\"patch_size\": 5"),
                        VitConfig.class))
                .hasMessageContaining("not a multiple of patch_size");
    }
}
