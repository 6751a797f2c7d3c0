package io.vitstream.artifact;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.data.InputSpec;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import io.vitstream.util.Seeds;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelArtifactTest {
    private static final VitConfig TINY = VitConfig.uniform(28, 1, 7, 0, 16, 2, 2, 32, 10);
    private static final List<String> CLASSES = IntStream.range(0, 10).mapToObj(i -> "c" + i).toList();

    @TempDir
    Path tmp;

    private Path dir;
    private float[] pixels;

    @BeforeEach
    void saveTinyModel() {
        dir = tmp.resolve("model");
        pixels = new float[4 * 28 * 28];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (float) Math.cos(i * 0.11);
        }
        Seeds.seedAll(3);
        try (VitModel model = VitModel.create(TINY)) {
            ModelArtifact.save(dir, model, manifest());
        }
    }

    private static Manifest manifest() {
        return new Manifest(Manifest.FORMAT_VERSION, "test-v1", null, TINY, CLASSES, InputSpec.fashionMnist(), 0, 0,
                null, null, Map.of("note", "test"), null, "2026-11-28T00:00:00Z");
    }

    @Test
    void roundTripReproducesLogitsExactly() {
        Seeds.seedAll(5);
        try (VitModel model = VitModel.create(TINY)) {
            Manifest written = ModelArtifact.save(tmp.resolve("again"), model, manifest());
            float[][] before = model.logits(pixels, 4);
            try (ModelArtifact.Loaded loaded = ModelArtifact.load(tmp.resolve("again"))) {
                assertThat(loaded.manifest()).isEqualTo(written);
                assertThat(loaded.manifest().flopsPerImage()).isPositive();
                float[][] after = loaded.model().logits(pixels, 4);
                for (int i = 0; i < 4; i++) {
                    assertThat(after[i]).containsExactly(before[i]);
                }
            }
        }
    }

    @Test
    void corruptWeightsAreRejectedNamingTheFile() throws Exception {
        Path weights = dir.resolve(ModelArtifact.WEIGHTS_FILE);
        byte[] bytes = Files.readAllBytes(weights);
        bytes[bytes.length / 2] ^= 0x40;
        Files.write(weights, bytes);
        assertThatThrownBy(() -> ModelArtifact.load(dir))
                .isInstanceOf(ArtifactException.class)
                .hasMessageContaining(weights.toString())
                .hasMessageContaining("sha256 mismatch");
    }

    @Test
    void truncatedWeightsAreRejected() throws Exception {
        Path weights = dir.resolve(ModelArtifact.WEIGHTS_FILE);
        byte[] bytes = Files.readAllBytes(weights);
        Files.write(weights, java.util.Arrays.copyOf(bytes, bytes.length - 10));
        assertThatThrownBy(() -> ModelArtifact.load(dir))
                .isInstanceOf(ArtifactException.class)
                .hasMessageContaining(weights.toString())
                .hasMessageContaining("size");
    }

    @Test
    void corruptManifestIsRejectedNamingTheFile() throws Exception {
        Path manifest = dir.resolve(ModelArtifact.MANIFEST_FILE);
        String json = Files.readString(manifest);
        Files.writeString(manifest, json.substring(0, json.length() / 2));
        assertThatThrownBy(() -> ModelArtifact.load(dir))
                .isInstanceOf(ArtifactException.class)
                .hasMessageContaining(manifest.toString())
                .hasMessageContaining("not valid JSON");
    }

    @Test
    void unknownFormatVersionIsRejected() throws Exception {
        Path manifest = dir.resolve(ModelArtifact.MANIFEST_FILE);
        Files.writeString(manifest, Files.readString(manifest).replace("\"format_version\" : 1", "\"format_version\" : 99"));
        assertThatThrownBy(() -> ModelArtifact.load(dir))
                .isInstanceOf(ArtifactException.class)
                .hasMessageContaining("unknown format_version 99");
    }

    @Test
    void weightsThatDoNotMatchTheArchitectureAreRejected() throws Exception {
        // Same weights file (sha256 still matches) but the manifest claims a wider MLP in block 1.
        Path manifest = dir.resolve(ModelArtifact.MANIFEST_FILE);
        String json = Files.readString(manifest);
        int second = json.indexOf("\"mlp_dim\" : 32", json.indexOf("\"mlp_dim\" : 32") + 1);
        Files.writeString(manifest, json.substring(0, second) + "\"mlp_dim\" : 48" + json.substring(second + 14));
        assertThatThrownBy(() -> ModelArtifact.load(dir))
                .isInstanceOf(ArtifactException.class)
                .hasMessageContaining("block1.mlp.fc1.weight")
                .hasMessageContaining("the architecture needs (48, 16)");
    }

    @Test
    void missingDirectoryIsRejected() {
        assertThatThrownBy(() -> ModelArtifact.load(tmp.resolve("nope")))
                .isInstanceOf(ArtifactException.class)
                .hasMessageContaining("model directory not found");
    }
}
