package io.vitstream.engine.onnx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.engine.Engine;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.FashionMnist;
import io.vitstream.data.LabeledImages;
import io.vitstream.engine.EngineKind;
import io.vitstream.engine.EngineOptions;
import io.vitstream.engine.InferenceEngine;
import io.vitstream.evaluation.Evaluator;
import io.vitstream.model.BlockConfig;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import io.vitstream.sparsity.SparseForward;
import io.vitstream.testing.TestData;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The ONNX graph written in Java computes what DJL's PyTorch forward pass computes: the same logits (1e-4) and the
 * same kept tokens at every stage, on real test images and the committed models, and on a tiny random model whose
 * every block, stem layer and MLP has its own width.
 */
@Tag("integration")
class OnnxRuntimeEngineTest {
    private static final int IMAGES = 256;
    private static LabeledImages test;

    @BeforeAll
    static void data() {
        test = FashionMnist.load(TestData.fashionMnist(), FashionMnist.Split.TEST);
    }

    @AfterAll
    static void release() {
        test = null;
    }

    @ParameterizedTest(name = "{0} at keep {1}, package token {2}")
    @CsvSource({
        "base, 1.0, false",
        "base, 0.7, false", // no predictors: the CLS-attention baseline, in the graph too
        "sparse, 1.0, false",
        "sparse, 0.7, false",
        "sparse, 0.5, false",
        "sparse, 0.7, true",
        "sparse, 0.5, true",
        "pruned-50, 1.0, false",
        "pruned-50, 0.7, false",
    })
    void committedModelsGiveDjlsLogitsAndKeptTokens(String model, double keep, boolean packageToken) {
        try (ModelArtifact.Loaded loaded = ModelArtifact.load(TestData.repoRoot().resolve("models/" + model));
                OnnxRuntimeEngine ort = (OnnxRuntimeEngine) loaded.engine(EngineOptions.of(EngineKind.ONNXRUNTIME))) {
            KeepPolicy policy = policyFor(loaded.model(), keep, packageToken);
            int[] order = IntStream.range(0, IMAGES).toArray();
            float[] pixels = loaded.manifest().input().batch(test, order, 0, IMAGES);
            assertSameForward(loaded.model(), ort, pixels, IMAGES, policy);
        }
    }

    @Test
    void tokenMergingOnTheBaseModelGivesDjlsLogits() {
        try (ModelArtifact.Loaded loaded = ModelArtifact.load(TestData.repoRoot().resolve("models/base"));
                OnnxRuntimeEngine ort = (OnnxRuntimeEngine) loaded.engine(EngineOptions.of(EngineKind.ONNXRUNTIME))) {
            int[] order = IntStream.range(0, IMAGES).toArray();
            float[] pixels = loaded.manifest().input().batch(test, order, 0, IMAGES);
            for (KeepPolicy.Method method : List.of(KeepPolicy.Method.TOME, KeepPolicy.Method.GRID_MERGE)) {
                for (double keep : new double[] {0.5, 0.7}) {
                    KeepPolicy policy = new KeepPolicy(keep, method, false);
                    assertSameForward(loaded.model(), ort, pixels, IMAGES, policy);
                    // A ratio with another schedule has a graph of its own.
                    assertThat(ort.isPrepared(policy)).isTrue();
                    assertThat(ort.isPrepared(new KeepPolicy(keep + 0.2, method, false))).isFalse();
                }
            }
        }
    }

    @Test
    void aTinyModelWithAWidthPerBlockExportsAndMatches() {
        Engine.getInstance().setRandomSeed(7);
        VitConfig config = new VitConfig(28, 1, 4, 0, 0, 24, 10, List.of(
                new BlockConfig(1, 8, 17), new BlockConfig(4, 6, 33), new BlockConfig(3, 5, 9),
                new BlockConfig(2, 7, 1)), List.of(5, 3, 11));
        SparsifierConfig sparsifier = new SparsifierConfig(List.of(1, 2, 3), 16, 0.3, 1.0);
        try (VitModel model = VitModel.create(config, sparsifier, true);
                OnnxRuntimeEngine ort = OnnxRuntimeEngine.create(config, sparsifier, ModelWeights.of(model),
                        EngineOptions.of(EngineKind.ONNXRUNTIME))) {
            float[] pixels = new float[32 * 28 * 28];
            var random = new java.util.Random(3);
            for (int i = 0; i < pixels.length; i++) {
                pixels[i] = (float) random.nextGaussian();
            }
            for (KeepPolicy policy : List.of(KeepPolicy.dense(), KeepPolicy.learned(0.6),
                    new KeepPolicy(0.4, KeepPolicy.Method.LEARNED, true),
                    new KeepPolicy(0.5, KeepPolicy.Method.CLS_ATTENTION, false),
                    new KeepPolicy(0.5, KeepPolicy.Method.CLS_ATTENTION, true),
                    new KeepPolicy(0.7, KeepPolicy.Method.TOME, false),
                    new KeepPolicy(0.3, KeepPolicy.Method.TOME, false),
                    new KeepPolicy(0.7, KeepPolicy.Method.GRID_MERGE, false),
                    new KeepPolicy(0.3, KeepPolicy.Method.GRID_MERGE, false))) {
                assertSameForward(model, ort, pixels, 32, policy);
            }
        }
    }

    @Test
    void fullTestSetAccuracyEqualsTheManifests() {
        for (String name : List.of("base", "sparse", "pruned-50")) {
            try (ModelArtifact.Loaded loaded = ModelArtifact.load(TestData.repoRoot().resolve("models/" + name));
                    InferenceEngine ort = loaded.engine(EngineOptions.of(EngineKind.ONNXRUNTIME))) {
                double accuracy = Evaluator.evaluate(ort, loaded.manifest().architecture().numClasses(),
                        loaded.manifest().input(), test, 256, KeepPolicy.dense()).accuracy();
                assertThat(accuracy).as(name).isEqualTo(loaded.manifest().testAccuracy(),
                        org.assertj.core.data.Offset.offset(0.00005));
            }
        }
    }

    @Test
    void aWeightTheWriterDoesNotKnowFailsWithOneLineNamingIt() {
        VitConfig config = VitConfig.uniform(28, 1, 7, 0, 16, 1, 2, 32, 10);
        try (VitModel model = VitModel.create(config)) {
            Map<String, ModelWeights.Tensor> weights = new LinkedHashMap<>(ModelWeights.of(model).asMap());
            weights.put("block0.attention.rel_pos_bias", new ModelWeights.Tensor(new long[] {2}, new float[2]));
            assertThatThrownBy(() -> VitOnnxExporter.export(config, null, new ModelWeights(weights),
                    KeepPolicy.dense()))
                    .isInstanceOf(UnsupportedModelException.class)
                    .hasMessage("cannot export to ONNX: weights with no ONNX mapping: [block0.attention.rel_pos_bias]");
        }
    }

    @Test
    void sessionsAreSharedByRatiosWithTheSameScheduleAndBuiltAhead() {
        try (ModelArtifact.Loaded loaded = ModelArtifact.load(TestData.repoRoot().resolve("models/sparse"));
                OnnxRuntimeEngine ort = (OnnxRuntimeEngine) loaded.engine(EngineOptions.of(EngineKind.ONNXRUNTIME))) {
            assertThat(ort.isPrepared(KeepPolicy.dense())).isTrue();
            assertThat(ort.isPrepared(KeepPolicy.learned(0.7))).isFalse();
            ort.prepare(KeepPolicy.learned(0.7), 8);
            assertThat(ort.isPrepared(KeepPolicy.learned(0.7))).isTrue();
            // 49 patches: 0.7 and 0.702 keep 34, then 24, then 17 at the three stages: one graph.
            assertThat(ort.isPrepared(KeepPolicy.learned(0.702))).isTrue();
            assertThat(ort.isPrepared(KeepPolicy.learned(0.5))).isFalse();
        }
    }

    private static KeepPolicy policyFor(VitModel model, double keep, boolean packageToken) {
        SparsifierConfig own = model.network().sparsifier();
        KeepPolicy.Method method = own != null && own.hasPredictors() ? KeepPolicy.Method.LEARNED
                : KeepPolicy.Method.CLS_ATTENTION;
        return new KeepPolicy(keep, method, packageToken);
    }

    private static void assertSameForward(VitModel model, OnnxRuntimeEngine ort, float[] pixels, int batch,
            KeepPolicy policy) {
        List<long[][]> djlKept = new ArrayList<>();
        float[][] djl = djlLogits(model, pixels, batch, policy, djlKept);
        OnnxRuntimeEngine.Output out = ort.forward(pixels, batch, policy);
        for (int b = 0; b < batch; b++) {
            for (int c = 0; c < djl[b].length; c++) {
                assertThat(out.logits()[b][c]).as("%s image %d class %d", policy, b, c)
                        .isCloseTo(djl[b][c], org.assertj.core.data.Offset.offset(1e-4f));
            }
        }
        assertThat(out.keptIndices()).as("%s: stages that dropped tokens", policy).hasSameSizeAs(djlKept);
        for (int s = 0; s < djlKept.size(); s++) {
            assertThat(out.keptIndices().get(s)).as("%s: kept tokens at stage %d", policy, s)
                    .isDeepEqualTo(djlKept.get(s));
        }
    }

    private static float[][] djlLogits(VitModel model, float[] pixels, int batch, KeepPolicy policy,
            List<long[][]> kept) {
        var c = model.config();
        try (var scope = model.djlModel().getNDManager().newSubManager()) {
            var x = scope.create(pixels, new ai.djl.ndarray.types.Shape(batch, c.channels(), c.imageSize(),
                    c.imageSize()));
            float[] flat = SparseForward.infer(model.network(), new ai.djl.training.ParameterStore(scope, false), x,
                    policy, kept).toFloatArray();
            float[][] rows = new float[batch][c.numClasses()];
            for (int b = 0; b < batch; b++) {
                System.arraycopy(flat, b * c.numClasses(), rows[b], 0, c.numClasses());
            }
            return rows;
        }
    }
}
