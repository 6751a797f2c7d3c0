package io.vitstream.controller.pruner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import io.vitstream.artifact.ArtifactException;
import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.FashionMnist;
import io.vitstream.data.InputSpec;
import io.vitstream.model.FlopCounter;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.VitModel;
import io.vitstream.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelSlicerTest {
    private static final int BATCH = 5;

    /** A plan over the tiny model that removes heads, neurons and block 2 (scores crafted so all three kinds go). */
    static PrunePlan mixedPlan() {
        List<Group> groups = Group.all(TinyModels.CONFIG);
        double[] s = new double[groups.size()];
        for (int g = 0; g < groups.size(); g++) {
            Group x = groups.get(g);
            s[g] = switch (x.kind()) {
                case BLOCK -> x.block() == 2 ? 1e-9 : 1e3;
                case HEAD -> 1.0 + 0.37 * ((x.block() * 7 + x.index() * 3) % 5);
                case NEURON -> 0.01 + 0.02 * ((x.block() * 11 + x.index() * 5) % 7);
                case STEM -> x.index() == 1 ? 1e-9 : 1e3; // channel 1 of each stem layer goes
            };
        }
        SaliencyScores scores = new SaliencyScores(groups, s, s, s, 1);
        long before = FlopCounter.perImage(TinyModels.CONFIG);
        return PrunePlanner.plan(TinyModels.CONFIG, TinyModels.SPARSIFIER, scores, Saliency.Method.TAYLOR,
                Math.round(0.45 * before));
    }

    @Test
    void slicedModelComputesTheGatedParentsFunction() {
        PrunePlan plan = mixedPlan();
        assertThat(plan.keptBlocks()).doesNotContain(2);
        assertThat(plan.removed()).anyMatch(r -> r.group().contains(".head"));
        assertThat(plan.removed()).anyMatch(r -> r.group().contains(".neuron"));
        assertThat(plan.keptStem()).containsExactly(List.of(0, 2), List.of(0, 2, 3));
        assertThat(plan.after().stemWidths()).containsExactly(2, 3);
        try (VitModel parent = TinyModels.randomModel(TinyModels.SPARSIFIER, 3);
                VitModel child = ModelSlicer.slice(parent, plan);
                NDManager gates = parent.djlModel().getNDManager().newSubManager()) {
            float[] px = TinyModels.images(BATCH, 5);
            float[][] denseBefore = parent.logits(px, BATCH);
            ModelSlicer.applyGates(parent, plan, gates);
            float[][] gatedDense = parent.logits(px, BATCH);
            float[][] gatedSparse = parent.logits(px, BATCH, KeepPolicy.learned(0.6));
            ModelSlicer.clearGates(parent);

            assertThat(child.config()).isEqualTo(plan.after());
            assertThat(child.config().depth()).isEqualTo(3);
            assertClose(child.logits(px, BATCH), gatedDense);
            assertClose(child.logits(px, BATCH, KeepPolicy.learned(0.6)), gatedSparse);
            // The gates did something: the pruned function differs from the parent's.
            assertThat(maxAbsDiff(gatedDense, denseBefore)).isGreaterThan(1e-3);
            assertClose(parent.logits(px, BATCH), denseBefore); // and clearing them restores the parent
        }
    }

    @Test
    void prunedArtifactRoundTripsAndAManifestThatDisagreesWithTheWeightsIsRefused(@TempDir Path dir) throws Exception {
        PrunePlan plan = mixedPlan();
        try (VitModel parent = TinyModels.randomModel(TinyModels.SPARSIFIER, 4);
                VitModel child = ModelSlicer.slice(parent, plan)) {
            Manifest draft = new Manifest(Manifest.FORMAT_VERSION, "tiny-p45", "tiny", plan.after(),
                    FashionMnist.CLASS_NAMES, InputSpec.fashionMnist(), 0, 0, null, null,
                    Map.of("pruning", plan.toManifest()), null, Instant.now().toString(), plan.sparsifierAfter());
            Path out = dir.resolve("pruned");
            Manifest written = ModelArtifact.save(out, child, draft);
            assertThat(written.flopsPerImage()).isEqualTo(plan.flopsAfter());
            float[] px = TinyModels.images(BATCH, 6);
            try (ModelArtifact.Loaded loaded = ModelArtifact.load(out)) {
                assertThat(loaded.manifest().parentVersion()).isEqualTo("tiny");
                assertThat(loaded.manifest().architecture()).isEqualTo(plan.after());
                assertThat(loaded.manifest().sparsifier()).isEqualTo(plan.sparsifierAfter());
                assertClose(loaded.model().logits(px, BATCH), child.logits(px, BATCH));
            }

            // Same weights file (checksum still valid), but the manifest claims the parent's wider architecture.
            Manifest lying = new Manifest(written.formatVersion(), written.version(), written.parentVersion(),
                    plan.before(), written.classNames(), written.input(), written.flopsPerImage(),
                    written.parameters(), null, null, written.training(), written.weights(), written.createdAt(),
                    TinyModels.SPARSIFIER);
            Files.write(out.resolve(ModelArtifact.MANIFEST_FILE), Json.MAPPER.writeValueAsBytes(lying));
            assertThatThrownBy(() -> ModelArtifact.load(out))
                    .isInstanceOf(ArtifactException.class)
                    .hasMessageContaining("weights.ndlist")
                    .hasMessageMatching("(?s).*(has shape|missing weight|not in the architecture).*");
        }
    }

    static void assertClose(float[][] a, float[][] b) {
        assertThat(a.length).isEqualTo(b.length);
        assertThat(maxAbsDiff(a, b)).isLessThan(1e-4);
    }

    static double maxAbsDiff(float[][] a, float[][] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a[i].length; j++) {
                max = Math.max(max, Math.abs(a[i][j] - b[i][j]));
            }
        }
        return max;
    }
}
