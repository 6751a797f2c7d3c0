package io.vitstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.model.FlopCounter;
import io.vitstream.testing.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The whole prune job through the CLI on the committed sparse model, kept short (small calibration and data). */
@Tag("integration")
class PruneCommandTest {
    @TempDir
    Path tmp;

    @Test
    @SuppressWarnings("unchecked")
    void pruneWritesASmallerModelThatRecordsItsParentPlanAndAccuracy() throws Exception {
        Path parent = TestData.repoRoot().resolve("models/sparse");
        Manifest pm = ModelArtifact.readManifest(parent);
        Path out = tmp.resolve("pruned");
        CliRun r = CliRun.of("prune", "--model", parent.toString(), "--out", out.toString(), "--flops-ratio", "0.6",
                "--saliency", "fisher", "--epochs", "1", "--limit", "640", "--val-size", "500", "--calibration", "24",
                "--model-version", "test-p60", "--quiet", "--data-dir", TestData.fashionMnist().toString());
        assertThat(r.code()).as(r.err()).isZero();

        Manifest m = ModelArtifact.readManifest(out);
        assertThat(m.version()).isEqualTo("test-p60");
        assertThat(m.parentVersion()).isEqualTo(pm.version());
        assertThat(m.flopsPerImage()).isEqualTo(FlopCounter.perImage(m.architecture()))
                .isLessThanOrEqualTo(Math.round(0.6 * pm.flopsPerImage()));
        assertThat(m.testAccuracy()).isBetween(0.3, 1.0); // far above chance (0.1) after one short epoch
        assertThat(m.validationAccuracy()).isNotNull();
        assertThat(m.sparsifier()).as("predictors carried over").isNotNull();
        assertThat(m.sparsifier().hasPredictors()).isTrue();
        Map<String, Object> pruning = (Map<String, Object>) m.training().get("pruning");
        assertThat(pruning.get("saliency")).isEqualTo("fisher");
        assertThat((List<Object>) pruning.get("removed")).isNotEmpty();
        assertThat(m.training()).containsKeys("command", "saliency_side_by_side", "fine_tune", "predictor_refit");
        // The command as given, every option included, so the model can be made again.
        assertThat(m.training().get("command")).isEqualTo("vitstream prune --model " + parent + " --out " + out
                + " --flops-ratio 0.6 --saliency fisher --epochs 1 --limit 640 --val-size 500 --calibration 24"
                + " --model-version test-p60 --quiet --data-dir " + TestData.fashionMnist());
        assertThat(Files.exists(out.resolve("checkpoint"))).as("checkpoint removed once the model is written")
                .isFalse();
        assertThat(r.err()).contains("plan (fisher saliency)").contains("wrote");

        try (ModelArtifact.Loaded loaded = ModelArtifact.load(out)) {
            assertThat(loaded.model().config()).isEqualTo(m.architecture());
        }
        // A second run into the same, now full, directory is refused rather than overwriting the model.
        CliRun again = CliRun.of("prune", "--model", parent.toString(), "--out", out.toString(), "--flops-ratio",
                "0.6", "--epochs", "0", "--calibration", "4", "--quiet");
        assertThat(again.code()).isEqualTo(2);
        assertThat(again.err()).contains("is not empty");
    }

    @Test
    @SuppressWarnings("unchecked")
    void capSlicesWithCorrectedConsumingLayersAndHessianRanksByTheHutchinsonDiagonal() throws Exception {
        for (String saliency : List.of("cap", "hessian")) {
            Manifest m = pruneSparse(saliency, "--calibration", "32", "--hessian-probes", "2");
            // Sliced only, no fine-tune: still far above chance (0.1).
            assertThat((Double) m.training().get("validation_accuracy_before_fine_tune")).isGreaterThan(0.3);
            Map<String, Object> sideBySide = (Map<String, Object>) m.training().get("saliency_side_by_side");
            assertThat(sideBySide).containsKey("spearman_obd_" + saliency);
            if (saliency.equals("cap")) {
                List<Map<String, Object>> layers = (List<Map<String, Object>>) ((Map<String, Object>) m.training()
                        .get("cap")).get("layers");
                assertThat(layers).isNotEmpty().allMatch(l -> (Double) l.get("relative_error_corrected")
                        < (Double) l.get("relative_error_pruned"));
            } else {
                Map<String, Object> hessian = (Map<String, Object>) m.training().get("hessian_diagonal");
                assertThat(hessian).containsEntry("probes", 2);
            }
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void maskMethodsRecordTheirSearchAndXPrunerWritesItsHeatMap() throws Exception {
        for (String saliency : List.of("vit-slim", "x-pruner")) {
            Manifest m = pruneSparse(saliency, "--calibration", "8", "--mask-images", "128");
            Path out = tmp.resolve(saliency);
            Map<String, Object> search = (Map<String, Object>) m.training().get("mask_search");
            assertThat(search).containsEntry("method", saliency).containsEntry("images", 128);
            assertThat((Double) search.get("mask_mean_mlp")).as("masks moved from 1").isNotEqualTo(1.0);
            assertThat(Files.exists(out.resolve("x-pruner-masks.png"))).isEqualTo(saliency.equals("x-pruner"));
        }
    }

    /**
     * {@code models/sparse} pruned to 60% of its FLOPs by {@code saliency} into {@code tmp/<saliency>}, sliced only:
     * the run succeeds, meets the budget, records the measure and loads as its own architecture.
     */
    @SuppressWarnings("unchecked")
    private Manifest pruneSparse(String saliency, String... extra) throws Exception {
        Path parent = TestData.repoRoot().resolve("models/sparse");
        Manifest pm = ModelArtifact.readManifest(parent);
        Path out = tmp.resolve(saliency);
        List<String> args = new java.util.ArrayList<>(List.of("prune", "--model", parent.toString(), "--out",
                out.toString(), "--flops-ratio", "0.6", "--saliency", saliency, "--epochs", "0", "--val-size", "500",
                "--model-version", "test-" + saliency, "--quiet", "--data-dir", TestData.fashionMnist().toString()));
        args.addAll(List.of(extra));
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertThat(r.code()).as(r.err()).isZero();
        Manifest m = ModelArtifact.readManifest(out);
        assertThat(m.flopsPerImage()).isLessThanOrEqualTo(Math.round(0.6 * pm.flopsPerImage()));
        Map<String, Object> pruning = (Map<String, Object>) m.training().get("pruning");
        assertThat(pruning.get("saliency")).isEqualTo(saliency);
        try (ModelArtifact.Loaded loaded = ModelArtifact.load(out)) {
            assertThat(loaded.model().config()).isEqualTo(m.architecture());
        }
        return m;
    }
}
