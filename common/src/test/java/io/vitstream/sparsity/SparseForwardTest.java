package io.vitstream.sparsity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import io.vitstream.model.BlockConfig;
import io.vitstream.model.FlopCounter;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import io.vitstream.util.Seeds;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class SparseForwardTest {
    // 28x28, 7x7 patches -> 16 patches + CLS; 4 blocks; stages before blocks 1 and 2.
    private static final VitConfig CONFIG = VitConfig.uniform(28, 1, 7, 0, 16, 4, 2, 32, 10);
    private static final SparsifierConfig SPARSIFIER = new SparsifierConfig(List.of(1, 2), 8, 0.5, 1.0);
    /** The token-dropping methods (the merging ones: TokenMergingTest). */
    private static final List<KeepPolicy.Method> DROPPING = List.of(KeepPolicy.Method.LEARNED,
            KeepPolicy.Method.CLS_ATTENTION);

    /** Image {@code b} of a batch {@link #images} made, alone as a batch of one. */
    private static NDArray image(NDManager scope, float[] px, int b) {
        return scope.create(Arrays.copyOfRange(px, b * 28 * 28, (b + 1) * 28 * 28), new Shape(1, 1, 28, 28));
    }

    private static float[] images(int batch) {
        float[] px = new float[batch * 28 * 28];
        for (int i = 0; i < px.length; i++) {
            int b = i / (28 * 28);
            px[i] = (float) Math.sin(i * 0.013 * (b + 1)) + (b % 2 == 0 ? 0.5f : -0.5f) * ((i % 28) / 28f);
        }
        return px;
    }

    @Test
    void perSampleTopKGatherMatchesABruteForceLoop() {
        try (NDManager m = NDManager.newBaseManager()) {
            int b = 3;
            int n = 9;
            int d = 4;
            int k = 4;
            float[] scores = new float[b * n];
            float[] tokens = new float[b * n * d];
            java.util.Random rng = new java.util.Random(7);
            for (int i = 0; i < scores.length; i++) {
                scores[i] = rng.nextFloat();
            }
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = rng.nextFloat();
            }
            NDArray index = SparseForward.topKIndices(m.create(scores, new Shape(b, n)), k);
            float[] gathered = SparseForward.gatherTokens(m.create(tokens, new Shape(b, n, d)), index).toFloatArray();

            for (int row = 0; row < b; row++) {
                final int r = row;
                int[] best = IntStream.range(0, n).boxed()
                        .sorted(Comparator.comparingDouble((Integer j) -> -scores[r * n + j]))
                        .limit(k).mapToInt(Integer::intValue).sorted().toArray();
                for (int j = 0; j < k; j++) {
                    for (int c = 0; c < d; c++) {
                        assertThat(gathered[(row * k + j) * d + c]).isEqualTo(tokens[(row * n + best[j]) * d + c]);
                    }
                }
                assertThat(index.get(row).toLongArray()).containsExactly(Arrays.stream(best).asLongStream().toArray());
            }
        }
    }

    @Test
    void atKeepRatioOneTheSparsePathEqualsTheDensePathExactly() {
        Seeds.seedAll(21);
        try (VitModel model = VitModel.create(CONFIG, SPARSIFIER);
                NDManager scope = model.djlModel().getNDManager().newSubManager()) {
            NDArray x = scope.create(images(4), new Shape(4, 1, 28, 28));
            ParameterStore ps = new ParameterStore(scope, false);
            float[] dense = model.network().forward(ps, new NDList(x), false).singletonOrThrow().toFloatArray();
            for (KeepPolicy.Method method : DROPPING) {
                float[] sparse = SparseForward.infer(model.network(), ps, x, new KeepPolicy(1.0, method, true))
                        .toFloatArray();
                assertThat(sparse).containsExactly(dense);
            }
            // A lower ratio does change the result (the comparison above is not vacuous).
            float[] pruned = SparseForward.infer(model.network(), ps, x, KeepPolicy.learned(0.5)).toFloatArray();
            assertThat(pruned).isNotEqualTo(dense);
        }
    }

    @Test
    void maskedAttentionIsolatesKeptTokensFromDroppedOnes() {
        Seeds.seedAll(5);
        try (VitModel model = VitModel.create(CONFIG, SPARSIFIER);
                NDManager scope = model.djlModel().getNDManager().newSubManager()) {
            ParameterStore ps = new ParameterStore(scope, true);
            int b = 2;
            int n = 17;
            NDArray tokens = scope.randomNormal(new Shape(b, n, 16));
            float[] keep = new float[b * n];
            Arrays.fill(keep, 1f);
            int[] dropped = {3, 4, 10, 16};
            for (int row = 0; row < b; row++) {
                for (int j : dropped) {
                    keep[row * n + j] = 0f;
                }
            }
            NDArray policy = scope.create(keep, new Shape(b, n));
            // Perturb only the dropped tokens' inputs.
            float[] delta = new float[b * n * 16];
            for (int row = 0; row < b; row++) {
                for (int j : dropped) {
                    for (int c = 0; c < 16; c++) {
                        delta[(row * n + j) * 16 + c] = 3f * (c % 3 - 1);
                    }
                }
            }
            NDArray perturbed = tokens.add(scope.create(delta, new Shape(b, n, 16)));

            float[] a = runBlocks(model, ps, tokens, policy);
            float[] c = runBlocks(model, ps, perturbed, policy);
            float[] unmaskedA = runBlocks(model, ps, tokens, null);
            float[] unmaskedC = runBlocks(model, ps, perturbed, null);
            boolean unmaskedDiffers = false;
            for (int row = 0; row < b; row++) {
                for (int j = 0; j < n; j++) {
                    if (keep[row * n + j] == 0f) {
                        continue;
                    }
                    for (int ch = 0; ch < 16; ch++) {
                        int i = (row * n + j) * 16 + ch;
                        assertThat(c[i]).as("kept token %d of row %d", j, row).isCloseTo(a[i],
                                org.assertj.core.data.Offset.offset(1e-5f));
                        unmaskedDiffers |= Math.abs(unmaskedC[i] - unmaskedA[i]) > 1e-3;
                    }
                }
            }
            assertThat(unmaskedDiffers).as("without masking, dropped tokens do influence kept ones").isTrue();
        }
    }

    /** The blocks after the first stage (1..3) with a fixed policy, training mode (the training path's masking). */
    private static float[] runBlocks(VitModel model, ParameterStore ps, NDArray x, NDArray policy) {
        for (int i = 1; i < CONFIG.depth(); i++) {
            NDList in = policy == null ? new NDList(x) : new NDList(x, policy);
            x = model.network().blocks().get(i).forward(ps, in, true).get(0);
        }
        return x.toFloatArray();
    }

    @Test
    void batchedSparseInferenceEqualsAPerImageReferenceThatSelectsTokensInJava() {
        Seeds.seedAll(13);
        try (VitModel model = VitModel.create(CONFIG, SPARSIFIER);
                NDManager scope = model.djlModel().getNDManager().newSubManager()) {
            ParameterStore ps = new ParameterStore(scope, false);
            int batch = 5;
            float[] px = images(batch);
            NDArray x = scope.create(px, new Shape(batch, 1, 28, 28));
            for (KeepPolicy.Method method : DROPPING) {
                for (double ratio : new double[] {0.7, 0.4}) {
                    List<long[][]> kept = new ArrayList<>();
                    float[] batched = SparseForward.infer(model.network(), ps, x, new KeepPolicy(ratio, method, false),
                            kept).toFloatArray();
                    for (int b = 0; b < batch; b++) {
                        NDArray one = image(scope, px, b);
                        List<long[]> keptByImage = new ArrayList<>();
                        for (long[][] stage : kept) {
                            keptByImage.add(stage[b]);
                        }
                        String what = method.id() + " at " + ratio + ", image " + b;
                        float[] expected = referenceLogits(model, ps, one, ratio, method, keptByImage, what);
                        for (int c = 0; c < expected.length; c++) {
                            assertThat(batched[b * expected.length + c]).as("%s, class %d", what, c)
                                    .isCloseTo(expected[c], org.assertj.core.data.Offset.offset(1e-4f));
                        }
                    }
                }
            }
        }
    }

    /**
     * One image through the network with token selection done by hand: at each stage the tokens the batched pass
     * kept ({@code kept}) must be a top-k of the reference score (the predictor's keep probability from its full
     * training-time forward with every token kept, at the requested ratio, or the previous block's CLS attention),
     * up to ties; they are then copied in Java (CLS first, original order) and the blocks run on them. No package
     * token.
     */
    private static float[] referenceLogits(VitModel model, ParameterStore ps, NDArray image, double ratio,
            KeepPolicy.Method method, List<long[]> kept, String what) {
        NDManager m = image.getManager();
        NDArray t = model.network().embed(ps, image, false);
        int patches = CONFIG.numPatches();
        int dim = CONFIG.dim();
        float[] clsAttention = null;
        int s = 0;
        for (int i = 0; i < CONFIG.depth(); i++) {
            if (s < SPARSIFIER.stages().size() && SPARSIFIER.stages().get(s) == i) {
                int k = SparseForward.keepCount(patches, ratio);
                float[] score = new float[patches];
                if (method == KeepPolicy.Method.LEARNED) {
                    NDArray candidates = t.get(":, 1:" + (1 + patches) + ", :");
                    NDArray logp = model.network().predictors().get(s).forward(ps, new NDList(candidates,
                            m.ones(new Shape(1, patches)), m.create(new float[] {(float) ratio}, new Shape(1, 1))),
                            false).singletonOrThrow();
                    score = logp.get(":, :, 0").exp().toFloatArray();
                } else {
                    System.arraycopy(clsAttention, 1, score, 0, patches);
                }
                long[] chosen = kept.get(s);
                assertThat(chosen).as("%s, stage %d", what, s).hasSize(k).isSorted().doesNotHaveDuplicates();
                float worstKept = Float.MAX_VALUE;
                float bestDropped = -Float.MAX_VALUE;
                java.util.Set<Long> chosenSet = new java.util.HashSet<>();
                for (long c : chosen) {
                    chosenSet.add(c);
                    worstKept = Math.min(worstKept, score[(int) c]);
                }
                for (int j = 0; j < patches; j++) {
                    if (!chosenSet.contains((long) j)) {
                        bestDropped = Math.max(bestDropped, score[j]);
                    }
                }
                assertThat(worstKept).as("%s, stage %d: every kept token scores at least every dropped one", what, s)
                        .isGreaterThanOrEqualTo(bestDropped - 1e-5f);
                float[] tokens = t.toFloatArray();
                float[] selected = new float[(1 + k) * dim];
                System.arraycopy(tokens, 0, selected, 0, dim); // CLS
                for (int j = 0; j < k; j++) {
                    System.arraycopy(tokens, (1 + (int) chosen[j]) * dim, selected, (1 + j) * dim, dim);
                }
                t = m.create(selected, new Shape(1, 1 + k, dim));
                patches = k;
                s++;
            }
            NDList out = model.network().blocks().get(i).forward(ps, new NDList(t), false,
                    io.vitstream.model.Attention.WITH_CLS_ATTENTION);
            t = out.get(0);
            clsAttention = out.get(1).toFloatArray();
        }
        return model.network().classify(ps, t, false).toFloatArray();
    }

    @Test
    void withPackageTokensEachImageOfABatchGetsWhatItGetsAlone() {
        Seeds.seedAll(17);
        try (VitModel model = VitModel.create(CONFIG, SPARSIFIER);
                NDManager scope = model.djlModel().getNDManager().newSubManager()) {
            ParameterStore ps = new ParameterStore(scope, false);
            int batch = 4;
            float[] px = images(batch);
            NDArray x = scope.create(px, new Shape(batch, 1, 28, 28));
            for (KeepPolicy.Method method : DROPPING) {
                KeepPolicy policy = new KeepPolicy(0.5, method, true);
                float[] batched = SparseForward.infer(model.network(), ps, x, policy).toFloatArray();
                int classes = batched.length / batch;
                for (int b = 0; b < batch; b++) {
                    NDArray one = image(scope, px, b);
                    float[] alone = SparseForward.infer(model.network(), ps, one, policy).toFloatArray();
                    for (int c = 0; c < classes; c++) {
                        assertThat(batched[b * classes + c]).as("%s, image %d, class %d", method.id(), b, c)
                                .isCloseTo(alone[c], org.assertj.core.data.Offset.offset(1e-4f));
                    }
                }
            }
        }
    }

    @Test
    void blocksReturnTheClsAttentionOnlyWhenAskedFor() {
        Seeds.seedAll(3);
        try (VitModel model = VitModel.create(CONFIG);
                NDManager scope = model.djlModel().getNDManager().newSubManager()) {
            ParameterStore ps = new ParameterStore(scope, false);
            NDArray tokens = scope.randomNormal(new Shape(2, 17, 16));
            NDList plain = model.network().blocks().get(0).forward(ps, new NDList(tokens), false);
            NDList asked = model.network().blocks().get(0).forward(ps, new NDList(tokens), false,
                    io.vitstream.model.Attention.WITH_CLS_ATTENTION);
            assertThat(plain).hasSize(1);
            assertThat(asked).hasSize(2);
            assertThat(asked.get(0).toFloatArray()).containsExactly(plain.get(0).toFloatArray());
            assertThat(asked.get(1).getShape()).isEqualTo(new Shape(2, 17));
            // Each row is an average of softmax rows: a distribution over the 17 keys.
            for (float sum : asked.get(1).sum(new int[] {1}).toFloatArray()) {
                assertThat(sum).isCloseTo(1f, org.assertj.core.data.Offset.offset(1e-5f));
            }
        }
    }

    @Test
    void differentImagesInOneBatchKeepDifferentTokenSets() {
        Seeds.seedAll(9);
        try (VitModel model = VitModel.create(CONFIG, SPARSIFIER);
                NDManager scope = model.djlModel().getNDManager().newSubManager()) {
            float[] px = images(2);
            // Image 0: bright top-left quadrant; image 1: bright bottom-right quadrant.
            Arrays.fill(px, 0f);
            for (int y = 0; y < 14; y++) {
                for (int x = 0; x < 14; x++) {
                    px[y * 28 + x] = 2f;
                    px[28 * 28 + (27 - y) * 28 + (27 - x)] = 2f;
                }
            }
            NDArray x = scope.create(px, new Shape(2, 1, 28, 28));
            for (KeepPolicy.Method method : DROPPING) {
                List<long[][]> kept = new ArrayList<>();
                SparseForward.infer(model.network(), new ParameterStore(scope, false), x,
                        new KeepPolicy(0.5, method, false), kept);
                assertThat(kept).hasSize(2);
                assertThat(kept.get(0)[0]).hasSize(8);
                assertThat(kept.get(1)[0]).hasSize(4);
                assertThat(kept.get(0)[0]).as(method.id()).isNotEqualTo(kept.get(0)[1]);
            }
        }
    }

    @Test
    void flopsAtAKeepRatioMatchTheHandComputation() {
        // 16 patches; stages before blocks 1 and 2; ratio 0.5 -> 8 then 4 patches; + CLS.
        VitConfig c = new VitConfig(28, 1, 7, 0, 16, 10, List.of(
                new BlockConfig(2, 8, 32), new BlockConfig(2, 8, 32), new BlockConfig(2, 8, 32),
                new BlockConfig(2, 8, 32)));
        assertThat(SparseForward.tokensPerBlock(c, SPARSIFIER.stages(), KeepPolicy.learned(0.5)))
                .containsExactly(17, 9, 5, 5);
        long embed = 16 * 16 * 49; //                                     patches * D * p*p*C
        long perToken = 16 * 48 + 16 * 16 + 2 * 16 * 32; //             qkv + proj + mlp per token = 768+256+1024
        long attn17 = 2 * 2 * 17 * 17 * 8; //                             2 * H * N^2 * Dh
        long attn9 = 2 * 2 * 9 * 9 * 8;
        long attn5 = 2 * 2 * 5 * 5 * 8;
        long blocks = 17 * perToken + attn17 + 9 * perToken + attn9 + 2 * (5 * perToken + attn5);
        long head = 16 * 10;
        long predictor = 16 * 8 + 8 * 4 + 4 * 2 + 2 * 2; //              in, fc1, fc2, out per scored token = 172
        long predictors = (16 + 8) * predictor; //                        stage 1 scores 16 tokens, stage 2 scores 8
        assertThat(SparseForward.flopsPerImage(c, SPARSIFIER, KeepPolicy.learned(0.5)))
                .isEqualTo(2 * (embed + blocks + head + predictors));
        // The baseline has no predictors; ratio 1.0 is the dense count.
        assertThat(SparseForward.flopsPerImage(c, SPARSIFIER, new KeepPolicy(0.5, KeepPolicy.Method.CLS_ATTENTION, false)))
                .isEqualTo(2 * (embed + blocks + head));
        assertThat(SparseForward.flopsPerImage(c, SPARSIFIER, KeepPolicy.learned(1.0))).isEqualTo(FlopCounter.perImage(c));
    }

    @Test
    void outOfRangeKeepRatiosAreRejected() {
        for (double bad : new double[] {0, -0.3, 1.01, Double.NaN, Double.POSITIVE_INFINITY}) {
            assertThatThrownBy(() -> KeepPolicy.learned(bad))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("keep ratio must be in (0, 1]");
        }
        assertThat(KeepPolicy.learned(1e-3).keepRatio()).isEqualTo(1e-3);
    }

    @Test
    void learnedSelectionNeedsPredictors() {
        Seeds.seedAll(1);
        try (VitModel dense = VitModel.create(CONFIG)) {
            assertThatThrownBy(() -> dense.logits(images(1), 1, KeepPolicy.learned(0.7)))
                    .hasMessageContaining("no learned token predictors");
            // ...but the CLS-attention baseline runs on any model.
            assertThat(dense.logits(images(1), 1, new KeepPolicy(0.7, KeepPolicy.Method.CLS_ATTENTION, true))[0])
                    .hasSize(10);
        }
    }
}
