package io.vitstream.sparsity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import io.vitstream.model.Attention;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.TransformerBlock;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import io.vitstream.util.Seeds;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/**
 * Token merging (ToMe and the grid merge) is exact where it can be checked exactly, equals a per-image Java
 * reference of the matching, keeps every patch accounted for, and is a forward pass like any other: batched equals
 * per image, ratio 1.0 equals dense.
 */
class TokenMergingTest {
    // 28x28, 7x7 patches -> a 4x4 grid, 16 patches + CLS; 4 blocks of 2 heads of 8.
    private static final VitConfig CONFIG = VitConfig.uniform(28, 1, 7, 0, 16, 4, 2, 32, 10);
    private static final Offset<Float> CLOSE = Offset.offset(1e-5f);

    private static float[] random(Random rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rng.nextGaussian();
        }
        return v;
    }

    private static float[] images(int batch) {
        float[] px = new float[batch * 28 * 28];
        for (int i = 0; i < px.length; i++) {
            int b = i / (28 * 28);
            px[i] = (float) Math.sin(i * 0.011 * (b + 1)) + (b % 2 == 0 ? 0.4f : -0.4f) * ((i % 28) / 28f);
        }
        return px;
    }

    @Test
    void twoTokensWithTheSameKeysMergeIntoOneWhoseSizeIsTheSumAndWhoseFeaturesAreTheSizeWeightedMean() {
        try (NDManager m = NDManager.newBaseManager()) {
            Random rng = new Random(1);
            int n = 7; // CLS 0; A = 2, 4, 6; B = 1, 3, 5
            int d = 3;
            int dh = 4;
            float[] metric = new float[n * dh];
            // Orthogonal keys (0 similarity) everywhere except A token 4, which has B token 3's key exactly.
            for (int j = 0; j < n; j++) {
                for (int c = 0; c < dh; c++) {
                    metric[j * dh + c] = c == j % dh ? 1f : (j == 0 ? 0.3f : 0f);
                }
            }
            metric[4 * dh] = 0f;
            System.arraycopy(metric, 3 * dh, metric, 4 * dh, dh);
            float[] x = random(rng, n * d);
            System.arraycopy(x, 3 * d, x, 4 * d, d); // identical tokens
            NDArray sizes = m.ones(new Shape(1, n, 1));
            TokenMerging.Merged out = TokenMerging.bipartiteMerge(m.create(x, new Shape(1, n, d)), sizes,
                    m.create(metric, new Shape(1, n, dh)), 1);

            assertThat(out.tokens().getShape()).isEqualTo(new Shape(1, n - 1, d));
            // CLS, the unmerged A tokens 2 and 6 in order, then B 1, 3 (with 4 merged in), 5.
            int[] from = {0, 2, 6, 1, 3, 5};
            float[] tokens = out.tokens().toFloatArray();
            for (int j = 0; j < from.length; j++) {
                for (int c = 0; c < d; c++) {
                    assertThat(tokens[j * d + c]).as("token %d channel %d", j, c).isCloseTo(x[from[j] * d + c], CLOSE);
                }
            }
            assertThat(out.sizes().toFloatArray()).containsExactly(1f, 1f, 1f, 1f, 2f, 1f);

            // With sizes 1 and 3 the merged features are (x3 + 3 x4) / 4, its size 4.
            float[] y = x.clone();
            for (int c = 0; c < d; c++) {
                y[4 * d + c] = x[3 * d + c] + 2f * c - 1f;
            }
            float[] s = {1, 1, 1, 1, 3, 1, 1};
            TokenMerging.Merged weighted = TokenMerging.bipartiteMerge(m.create(y, new Shape(1, n, d)),
                    m.create(s, new Shape(1, n, 1)), m.create(metric, new Shape(1, n, dh)), 1);
            float[] t = weighted.tokens().toFloatArray();
            for (int c = 0; c < d; c++) {
                assertThat(t[4 * d + c]).isCloseTo((y[3 * d + c] + 3 * y[4 * d + c]) / 4f, CLOSE);
            }
            assertThat(weighted.sizes().toFloatArray()).containsExactly(1f, 1f, 1f, 1f, 4f, 1f);
        }
    }

    @Test
    void proportionalAttentionWithSizesEqualsAttentionOverTheDuplicatedTokens() {
        Seeds.seedAll(4);
        try (VitModel model = VitModel.create(CONFIG);
                NDManager scope = model.djlModel().getNDManager().newSubManager()) {
            ParameterStore ps = new ParameterStore(scope, false);
            Attention attention = model.network().blocks().get(1).attention();
            Random rng = new Random(2);
            int[] size = {1, 3, 1, 2, 4};
            int n = size.length;
            int d = CONFIG.dim();
            float[] u = random(rng, 2 * n * d);
            // Each token repeated as often as its size says, per image.
            int total = Arrays.stream(size).sum();
            float[] dup = new float[2 * total * d];
            int[] firstCopy = new int[n];
            for (int b = 0; b < 2; b++) {
                int at = 0;
                for (int j = 0; j < n; j++) {
                    firstCopy[j] = at;
                    for (int k = 0; k < size[j]; k++, at++) {
                        System.arraycopy(u, (b * n + j) * d, dup, (b * total + at) * d, d);
                    }
                }
            }
            float[] logSizes = new float[2 * n];
            for (int i = 0; i < logSizes.length; i++) {
                logSizes[i] = (float) Math.log(size[i % n]);
            }
            Attention.MergingOutput merged = attention.forwardProportional(ps, scope.create(u, new Shape(2, n, d)),
                    scope.create(logSizes, new Shape(2, n)), false);
            float[] plain = attention.forward(ps, new NDList(scope.create(dup, new Shape(2, total, d))), false)
                    .singletonOrThrow().toFloatArray();
            float[] got = merged.out().toFloatArray();
            for (int b = 0; b < 2; b++) {
                for (int j = 0; j < n; j++) {
                    for (int c = 0; c < d; c++) {
                        assertThat(got[(b * n + j) * d + c]).as("image %d token %d channel %d", b, j, c)
                                .isCloseTo(plain[(b * total + firstCopy[j]) * d + c], CLOSE);
                    }
                }
            }
            // Without the sizes the outputs differ: the check above is not vacuous.
            float[] unweighted = attention.forwardProportional(ps, scope.create(u, new Shape(2, n, d)), null, false)
                    .out().toFloatArray();
            assertThat(maxDifference(unweighted, got)).isGreaterThan(1e-3f);
            assertThat(merged.meanKeys().getShape()).isEqualTo(new Shape(2, n, 8));
        }
    }

    @Test
    void theBlockHalvesInARowAreTheBlock() {
        Seeds.seedAll(6);
        try (VitModel model = VitModel.create(CONFIG);
                NDManager scope = model.djlModel().getNDManager().newSubManager()) {
            ParameterStore ps = new ParameterStore(scope, false);
            NDArray x = scope.randomNormal(new Shape(3, 17, CONFIG.dim()));
            TransformerBlock block = model.network().blocks().get(2);
            float[] whole = block.forward(ps, new NDList(x), false).get(0).toFloatArray();
            float[] halves = block.feedForward(ps, block.attentionResidual(ps, x, null, false).tokens(), false)
                    .toFloatArray();
            assertThat(halves).containsExactly(whole);
        }
    }

    @Test
    void batchedToMeEqualsAPerImageJavaReference() {
        try (NDManager m = NDManager.newBaseManager()) {
            Random rng = new Random(5);
            int b = 4;
            int n = 12;
            int d = 5;
            int dh = 3;
            float[] x = random(rng, b * n * d);
            float[] metric = random(rng, b * n * dh);
            float[] sizes = new float[b * n];
            for (int i = 0; i < sizes.length; i++) {
                sizes[i] = 1 + rng.nextInt(4);
            }
            for (int r : new int[] {1, 3, 5}) { // 5 = every A token but CLS
                TokenMerging.Merged out = TokenMerging.bipartiteMerge(m.create(x, new Shape(b, n, d)),
                        m.create(sizes, new Shape(b, n, 1)), m.create(metric, new Shape(b, n, dh)), r);
                float[] tokens = out.tokens().toFloatArray();
                float[] outSizes = out.sizes().toFloatArray();
                for (int i = 0; i < b; i++) {
                    float[][] expected = referenceToMe(slice(x, i, n * d), slice(metric, i, n * dh),
                            slice(sizes, i, n), n, d, dh, r);
                    assertThat(slice(outSizes, i, n - r)).as("sizes, image %d, r %d", i, r)
                            .containsExactly(expected[1], CLOSE);
                    assertThat(slice(tokens, i, (n - r) * d)).as("tokens, image %d, r %d", i, r)
                            .containsExactly(expected[0], Offset.offset(1e-4f));
                }
            }
        }
    }

    /** ToMe on one image, in plain Java: {tokens (n - r) x d, sizes n - r}. */
    private static float[][] referenceToMe(float[] x, float[] metric, float[] s, int n, int d, int dh, int r) {
        List<Integer> a = new ArrayList<>();
        List<Integer> bSide = new ArrayList<>();
        for (int j = 1; j < n; j++) {
            (j % 2 == 0 ? a : bSide).add(j);
        }
        double[] best = new double[a.size()];
        int[] match = new int[a.size()];
        for (int i = 0; i < a.size(); i++) {
            best[i] = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < bSide.size(); j++) {
                double cos = cosine(metric, a.get(i), bSide.get(j), dh);
                if (cos > best[i]) {
                    best[i] = cos;
                    match[i] = j;
                }
            }
        }
        Integer[] order = new Integer[a.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (p, q) -> Double.compare(best[q], best[p]));
        boolean[] merged = new boolean[a.size()];
        for (int k = 0; k < r; k++) {
            merged[order[k]] = true;
        }
        List<double[]> sums = new ArrayList<>(); // [s x..., s]
        sums.add(weighted(x, s, 0, d));
        for (int i = 0; i < a.size(); i++) {
            if (!merged[i]) {
                sums.add(weighted(x, s, a.get(i), d));
            }
        }
        int firstB = sums.size();
        for (int j : bSide) {
            sums.add(weighted(x, s, j, d));
        }
        for (int i = 0; i < a.size(); i++) {
            if (merged[i]) {
                double[] into = sums.get(firstB + match[i]);
                double[] add = weighted(x, s, a.get(i), d);
                for (int c = 0; c <= d; c++) {
                    into[c] += add[c];
                }
            }
        }
        float[] tokens = new float[sums.size() * d];
        float[] sizes = new float[sums.size()];
        for (int j = 0; j < sums.size(); j++) {
            double[] v = sums.get(j);
            sizes[j] = (float) v[d];
            for (int c = 0; c < d; c++) {
                tokens[j * d + c] = (float) (v[c] / v[d]);
            }
        }
        return new float[][] {tokens, sizes};
    }

    @Test
    void identicalAdjacentColumnsMergeIntoOneAndTheTokensStayAGrid() {
        try (NDManager m = NDManager.newBaseManager()) {
            Random rng = new Random(8);
            int side = 4;
            int n = 1 + side * side;
            int d = 2;
            int dh = 3;
            float[] x = random(rng, n * d);
            float[] metric = random(rng, n * dh);
            for (int row = 0; row < side; row++) { // column 2 is a copy of column 1, keys and features
                int from = 1 + row * side + 1;
                System.arraycopy(metric, from * dh, metric, (from + 1) * dh, dh);
                System.arraycopy(x, from * d, x, (from + 1) * d, d);
            }
            TokenMerging.Merged out = TokenMerging.gridMerge(m.create(x, new Shape(1, n, d)),
                    m.ones(new Shape(1, n, 1)), m.create(metric, new Shape(1, n, dh)), side, side, true, 1);
            assertThat(out.tokens().getShape()).isEqualTo(new Shape(1, 1 + side * (side - 1), d));
            float[] sizes = out.sizes().toFloatArray();
            float[] tokens = out.tokens().toFloatArray();
            for (int row = 0; row < side; row++) {
                for (int col = 0; col < side - 1; col++) {
                    int to = 1 + row * (side - 1) + col;
                    int from = 1 + row * side + (col <= 1 ? col : col + 1);
                    assertThat(sizes[to]).as("row %d column %d", row, col).isEqualTo(col == 1 ? 2f : 1f);
                    for (int c = 0; c < d; c++) {
                        assertThat(tokens[to * d + c]).isCloseTo(x[from * d + c], CLOSE);
                    }
                }
            }
        }
    }

    @Test
    void batchedGridMergeEqualsAPerImageJavaReferenceAndSizesStayAnOuterProduct() {
        try (NDManager m = NDManager.newBaseManager()) {
            Random rng = new Random(9);
            int b = 3;
            int side = 5;
            int n = 1 + side * side;
            int d = 4;
            int dh = 3;
            float[] x = random(rng, b * n * d);
            float[] metric = random(rng, b * n * dh);
            int lines = 5; // column, row, column, row, column: 5x5 -> 3x2
            TokenMerging.Merged out = TokenMerging.gridMerge(m.create(x, new Shape(b, n, d)),
                    m.ones(new Shape(b, n, 1)), m.create(metric, new Shape(b, n, dh)), side, side, true, lines);
            int rows = 3;
            int cols = 2;
            int kept = 1 + rows * cols;
            float[] tokens = out.tokens().toFloatArray();
            float[] sizes = out.sizes().toFloatArray();
            for (int i = 0; i < b; i++) {
                float[][] expected = referenceGrid(slice(x, i, n * d), slice(metric, i, n * dh), side, d, dh, lines);
                float[] s = slice(sizes, i, kept);
                assertThat(s).as("sizes, image %d", i).containsExactly(expected[1], CLOSE);
                assertThat(slice(tokens, i, kept * d)).as("tokens, image %d", i)
                        .containsExactly(expected[0], Offset.offset(1e-4f));
                // A grid: each token's size is its row's height times its column's width, so
                // size(row, col) x size(0, 0) = size(row, 0) x size(0, col); and every patch is there.
                float total = 0;
                for (int row = 0; row < rows; row++) {
                    for (int col = 0; col < cols; col++) {
                        assertThat(s[1 + row * cols + col] * s[1]).as("image %d row %d column %d", i, row, col)
                                .isEqualTo(s[1 + row * cols] * s[1 + col]);
                        total += s[1 + row * cols + col];
                    }
                }
                assertThat(total).isEqualTo(side * side);
                assertThat(s[0]).isEqualTo(1f);
            }
        }
    }

    /** Grid merge on one image in plain Java, starting with a column pair: {tokens, sizes}. */
    private static float[][] referenceGrid(float[] x, float[] metric, int side, int d, int dh, int lines) {
        // Per token: [s x | s k | s], the grid as a list of rows of cells.
        List<List<double[]>> grid = new ArrayList<>();
        for (int row = 0; row < side; row++) {
            List<double[]> cells = new ArrayList<>();
            for (int col = 0; col < side; col++) {
                int t = 1 + row * side + col;
                double[] cell = new double[d + dh + 1];
                for (int c = 0; c < d; c++) {
                    cell[c] = x[t * d + c];
                }
                for (int c = 0; c < dh; c++) {
                    cell[d + c] = metric[t * dh + c];
                }
                cell[d + dh] = 1;
                cells.add(cell);
            }
            grid.add(cells);
        }
        boolean column = true;
        for (int l = 0; l < lines; l++, column = !column) {
            int rows = grid.size();
            int cols = grid.get(0).size();
            int pairs = column ? cols - 1 : rows - 1;
            int bestPair = 0;
            double best = Double.NEGATIVE_INFINITY;
            for (int p = 0; p < pairs; p++) {
                double sum = 0;
                int along = column ? rows : cols;
                for (int o = 0; o < along; o++) {
                    double[] u = column ? grid.get(o).get(p) : grid.get(p).get(o);
                    double[] v = column ? grid.get(o).get(p + 1) : grid.get(p + 1).get(o);
                    sum += cosineOfMeans(u, v, d, dh);
                }
                if (sum / along > best) {
                    best = sum / along;
                    bestPair = p;
                }
            }
            if (column) {
                for (List<double[]> cells : grid) {
                    add(cells.get(bestPair), cells.remove(bestPair + 1));
                }
            } else {
                List<double[]> lower = grid.remove(bestPair + 1);
                for (int c = 0; c < cols; c++) {
                    add(grid.get(bestPair).get(c), lower.get(c));
                }
            }
        }
        List<double[]> flat = new ArrayList<>();
        flat.add(null); // CLS
        grid.forEach(flat::addAll);
        float[] tokens = new float[flat.size() * d];
        float[] sizes = new float[flat.size()];
        sizes[0] = 1;
        System.arraycopy(x, 0, tokens, 0, d);
        for (int j = 1; j < flat.size(); j++) {
            double[] v = flat.get(j);
            sizes[j] = (float) v[d + dh];
            for (int c = 0; c < d; c++) {
                tokens[j * d + c] = (float) (v[c] / v[d + dh]);
            }
        }
        return new float[][] {tokens, sizes};
    }

    @Test
    void mergingKeepsEveryPatchAccountedForWithTheScheduledTokenCounts() {
        Seeds.seedAll(11);
        try (VitModel model = VitModel.create(CONFIG);
                NDManager scope = model.djlModel().getNDManager().newSubManager()) {
            ParameterStore ps = new ParameterStore(scope, false);
            NDArray px = scope.create(images(3), new Shape(3, 1, 28, 28));
            for (MergeSchedule schedule : List.of(MergeSchedule.tome(CONFIG, 3), MergeSchedule.gridMerge(CONFIG, 5))) {
                List<float[][]> sizes = new ArrayList<>();
                NDArray logits = TokenMerging.infer(model.network(), ps, px, schedule, sizes);
                assertThat(logits.getShape()).isEqualTo(new Shape(3, 10));
                assertThat(sizes).hasSize(CONFIG.depth());
                for (int i = 0; i < CONFIG.depth(); i++) {
                    for (float[] image : sizes.get(i)) {
                        assertThat(image).as("%s block %d", schedule.method(), i).hasSize(schedule.mlpTokens()[i]);
                        assertThat(image[0]).as("CLS is never merged").isEqualTo(1f);
                        float total = 0;
                        for (float s : image) {
                            total += s;
                        }
                        assertThat(total).isEqualTo(CONFIG.numTokens());
                    }
                }
            }
        }
    }

    @Test
    void eachImageOfABatchMergesAsItWouldAloneAndRatioOneIsTheDenseForward() {
        Seeds.seedAll(12);
        try (VitModel model = VitModel.create(CONFIG);
                NDManager scope = model.djlModel().getNDManager().newSubManager()) {
            ParameterStore ps = new ParameterStore(scope, false);
            int batch = 4;
            float[] px = images(batch);
            NDArray x = scope.create(px, new Shape(batch, 1, 28, 28));
            float[] dense = model.network().forward(ps, new NDList(x), false).singletonOrThrow().toFloatArray();
            for (KeepPolicy.Method method : List.of(KeepPolicy.Method.TOME, KeepPolicy.Method.GRID_MERGE)) {
                assertThat(SparseForward.infer(model.network(), ps, x, new KeepPolicy(1.0, method, false))
                        .toFloatArray()).containsExactly(dense);
                KeepPolicy policy = new KeepPolicy(0.5, method, false);
                float[] batched = SparseForward.infer(model.network(), ps, x, policy).toFloatArray();
                assertThat(maxDifference(batched, dense)).as("%s merges something", method).isGreaterThan(1e-4f);
                for (int b = 0; b < batch; b++) {
                    NDArray one = scope.create(Arrays.copyOfRange(px, b * 784, (b + 1) * 784), new Shape(1, 1, 28, 28));
                    float[] alone = SparseForward.infer(model.network(), ps, one, policy).toFloatArray();
                    for (int c = 0; c < 10; c++) {
                        assertThat(batched[b * 10 + c]).as("%s image %d class %d", method, b, c)
                                .isCloseTo(alone[c], Offset.offset(1e-4f));
                    }
                }
            }
        }
    }

    @Test
    void thePackageTokenIsRefusedForMergingAndUnknownMethodsAreNamed() {
        assertThatThrownBy(() -> new KeepPolicy(0.7, KeepPolicy.Method.TOME, true))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("package token is for the token-dropping methods")
                .hasMessageContaining("not tome");
        assertThat(KeepPolicy.Method.parse("grid-merge")).isEqualTo(KeepPolicy.Method.GRID_MERGE);
        assertThatThrownBy(() -> KeepPolicy.Method.parse("merge"))
                .hasMessage("unknown token reduction method 'merge' (expected learned, cls-attention, tome or "
                        + "grid-merge)");
    }

    private static double cosine(float[] m, int i, int j, int dh) {
        double dot = 0;
        double ni = 0;
        double nj = 0;
        for (int c = 0; c < dh; c++) {
            dot += m[i * dh + c] * m[j * dh + c];
            ni += m[i * dh + c] * m[i * dh + c];
            nj += m[j * dh + c] * m[j * dh + c];
        }
        return dot / Math.sqrt(ni * nj);
    }

    /** The cosine of two cells' size-weighted mean keys. */
    private static double cosineOfMeans(double[] u, double[] v, int d, int dh) {
        double dot = 0;
        double nu = 0;
        double nv = 0;
        for (int c = 0; c < dh; c++) {
            double a = u[d + c] / u[d + dh];
            double b = v[d + c] / v[d + dh];
            dot += a * b;
            nu += a * a;
            nv += b * b;
        }
        return dot / Math.sqrt(nu * nv);
    }

    private static double[] weighted(float[] x, float[] s, int j, int d) {
        double[] v = new double[d + 1];
        for (int c = 0; c < d; c++) {
            v[c] = s[j] * x[j * d + c];
        }
        v[d] = s[j];
        return v;
    }

    private static void add(double[] into, double[] other) {
        for (int c = 0; c < into.length; c++) {
            into[c] += other[c];
        }
    }

    private static float[] slice(float[] flat, int image, int perImage) {
        return Arrays.copyOfRange(flat, image * perImage, (image + 1) * perImage);
    }

    private static float maxDifference(float[] a, float[] b) {
        float max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }
}
