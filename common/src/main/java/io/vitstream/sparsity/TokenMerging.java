package io.vitstream.sparsity;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.ParameterStore;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.TransformerBlock;
import io.vitstream.model.VisionTransformer;
import io.vitstream.model.VitConfig;
import java.util.List;

/**
 * Inference with token merging, training-free on any model: in each block the {@link MergeSchedule} merges in, after
 * the attention residual and before the MLP, tokens are merged into size-weighted averages x = sum(s x) / sum(s),
 * their sizes s (the patches each token stands for) summed; every later attention is proportional (log s added to
 * its logits over keys), so a merged token weighs as its patches would. Tokens are compared by the cosine of their
 * keys averaged over heads. The CLS token is never merged and stays first. The same number of tokens is merged in
 * every image of a batch, so tensors stay dense; which tokens merge is each image's own.
 *
 * <p>Two methods:
 *
 * <ul>
 *   <li>{@link #bipartiteMerge ToMe} (Bolya et al., bipartite soft matching): tokens split alternately into A (even
 *       positions, CLS included) and B (odd); each A token but CLS takes its most similar B token; the r A tokens with
 *       the most similar matches merge into them. Output order (as ToMe's): CLS, the unmerged A tokens in their order,
 *       then the B tokens in theirs.
 *   <li>{@link #gridMerge grid merge}, a small-scale reading of CAIT's horizontal and vertical token merging (HTM,
 *       VTM), whose exact equations are not public: the patch tokens are a rows x columns grid (row-major after CLS);
 *       a column step scores each pair of adjacent columns by the mean, over the rows, of the cosine between the two
 *       tokens side by side, and merges the best pair token by token (row by row), leaving a grid one column
 *       narrower; a row step does the same with adjacent rows. Steps alternate over the whole pass, column first.
 *       Where a block takes two steps, the second compares the size-weighted averages of the merged keys.
 * </ul>
 */
public final class TokenMerging {
    private TokenMerging() {}

    /** Tokens after a merge: features (B, n, D) and sizes (B, n, 1), the patches each token stands for. */
    public record Merged(NDArray tokens, NDArray sizes) {}

    /**
     * The forward pass at {@code schedule}: pixels (B, C, H, W) to logits (B, K).
     *
     * @param sizesAfterBlock when not null, each block's token sizes after its merge are appended, as
     *     {@code float[batch][tokens]} (CLS first)
     */
    public static NDArray infer(VisionTransformer net, ParameterStore ps, NDArray pixels, MergeSchedule schedule,
            List<float[][]> sizesAfterBlock) {
        VitConfig config = net.config();
        NDArray x = net.embed(ps, pixels, false);
        NDArray sizes = null; // (B, n, 1); null while every token is one patch
        boolean tome = schedule.method() == KeepPolicy.Method.TOME;
        int rows = config.gridSize();
        int cols = config.gridSize();
        int linesDone = 0;
        List<TransformerBlock> blocks = net.blocks();
        for (int i = 0; i < blocks.size(); i++) {
            TransformerBlock block = blocks.get(i);
            if (sizes == null && !schedule.mergesIn(i)) {
                x = block.forward(ps, new NDList(x), false).get(0);
            } else {
                NDArray logSizes = sizes == null ? null : sizes.squeeze(2).log();
                TransformerBlock.AttentionHalf half = block.attentionResidual(ps, x, logSizes, false);
                x = half.tokens();
                if (schedule.mergesIn(i)) {
                    NDArray s = sizes != null ? sizes : x.get(":, :, :1").onesLike();
                    int m = schedule.merges()[i];
                    Merged merged = tome ? bipartiteMerge(x, s, half.meanKeys(), m)
                            : gridMerge(x, s, half.meanKeys(), rows, cols, linesDone % 2 == 0, m);
                    x = merged.tokens();
                    sizes = merged.sizes();
                    linesDone += m;
                    rows = schedule.gridRows()[i];
                    cols = schedule.gridColumns()[i];
                }
                x = block.feedForward(ps, x, false);
            }
            if (sizesAfterBlock != null) {
                sizesAfterBlock.add(rows(sizes != null ? sizes.squeeze(2) : x.get(":, :, 0").onesLike()));
            }
        }
        return net.classify(ps, x, false);
    }

    /**
     * ToMe's bipartite soft matching and merge of {@code r} tokens.
     *
     * @param x tokens (B, n, D), CLS first
     * @param sizes (B, n, 1)
     * @param metric (B, n, Dh) what tokens are compared by (the keys averaged over heads)
     * @param r tokens to merge away, 1 to ceil(n / 2) - 1
     */
    public static Merged bipartiteMerge(NDArray x, NDArray sizes, NDArray metric, int r) {
        long n = x.getShape().get(1);
        long d = x.getShape().get(2);
        int candidates = (int) ((n + 1) / 2 - 1);
        if (r < 1 || r > candidates) {
            throw new IllegalArgumentException("ToMe merges 1 to " + candidates + " of " + n + " tokens, got " + r);
        }
        long nb = n / 2;
        NDArray m = normalise(metric);
        NDArray scores = m.get(":, 2::2, :").matMul(m.get(":, 1::2, :").swapAxes(1, 2)); // (B, |A| - 1, |B|)
        NDArray best = scores.max(new int[] {2}); // (B, |A| - 1)
        NDArray match = scores.argMax(2);
        NDArray order = best.topK(candidates, 1, true, true).get(1); // best matches first
        NDArray src = order.get(":, :" + r);
        NDArray dst = match.gather(src, 1); // (B, r) positions in B
        // Features times sizes, with the sizes as one more channel: one gather and one sum carry both.
        NDArray f = NDArrays.concat(new NDList(x.mul(sizes), sizes), 2); // (B, n, D + 1)
        NDArray fa = f.get(":, 2::2, :");
        NDArray fb = f.get(":, 1::2, :");
        NDArray into = dst.oneHot((int) nb).swapAxes(1, 2).matMul(SparseForward.gatherTokens(fa, src)); // (B, |B|, D+1)
        NDList parts = new NDList(f.get(":, :1, :"));
        if (r < candidates) {
            NDArray unmerged = order.get(":, " + r + ":").sort(1); // in token order
            parts.add(SparseForward.gatherTokens(fa, unmerged));
        }
        parts.add(fb.add(into));
        return split(NDArrays.concat(parts, 1), d);
    }

    /**
     * {@code lines} grid-merge steps on patch tokens laid out as a {@code rows x cols} grid (row-major, after CLS),
     * alternating column and row pairs, starting with a column pair when {@code columnFirst}.
     *
     * @param x tokens (B, 1 + rows x cols, D)
     * @param sizes (B, 1 + rows x cols, 1)
     * @param metric (B, 1 + rows x cols, Dh)
     */
    public static Merged gridMerge(NDArray x, NDArray sizes, NDArray metric, int rows, int cols, boolean columnFirst,
            int lines) {
        long d = x.getShape().get(2);
        long dh = metric.getShape().get(2);
        // Features, keys and sizes, each weighted by the size, merged together: [s x | s k | s].
        NDArray f = NDArrays.concat(new NDList(x.mul(sizes), metric.mul(sizes), sizes), 2);
        boolean column = columnFirst;
        for (int l = 0; l < lines; l++) {
            if (column ? cols < 2 : rows < 2) {
                throw new IllegalArgumentException("a " + rows + "x" + cols + " grid has no "
                        + (column ? "column" : "row") + " pair to merge");
            }
            f = mergeLine(f, rows, cols, column, d, dh);
            if (column) {
                cols--;
            } else {
                rows--;
            }
            column = !column;
        }
        NDArray s = f.get(":, :, " + (d + dh) + ":");
        return new Merged(f.get(":, :, :" + d).div(s), s);
    }

    /** One column-pair (or row-pair) merge of [s x | s k | s] tokens (B, 1 + rows x cols, C). */
    private static NDArray mergeLine(NDArray f, int rows, int cols, boolean column, long d, long dh) {
        long b = f.getShape().get(0);
        long c = f.getShape().get(2);
        NDArray grid = f.get(":, 1:, :").reshape(b, rows, cols, c);
        NDArray keys = normalise(grid.get(":, :, :, " + d + ":" + (d + dh)).div(grid.get(":, :, :, " + (c - 1) + ":")));
        NDArray pairs; // (B, pairs): mean cosine of each adjacent pair over the other axis
        int lines = column ? cols : rows;
        if (column) {
            pairs = keys.get(":, :, :" + (cols - 1) + ", :").mul(keys.get(":, :, 1:, :")).sum(new int[] {3})
                    .mean(new int[] {1});
        } else {
            pairs = keys.get(":, :" + (rows - 1) + ", :, :").mul(keys.get(":, 1:, :, :")).sum(new int[] {3})
                    .mean(new int[] {2});
        }
        NDArray chosen = pairs.argMax(1).reshape(b, 1); // the pair (p, p + 1) merged
        // Old line i goes to new line i - [i > p]: a one-hot map (B, lines - 1, lines) applied to the line axis.
        NDArray line = f.getManager().arange(0f, lines, 1f, DataType.INT64, f.getDevice()).reshape(1, lines);
        NDArray target = line.sub(line.gt(chosen).toType(DataType.INT64, false));
        NDArray map = target.oneHot(lines - 1).swapAxes(1, 2);
        NDArray merged;
        if (column) {
            NDArray byColumn = grid.transpose(0, 2, 1, 3).reshape(b, cols, (long) rows * c);
            merged = map.matMul(byColumn).reshape(b, cols - 1, rows, c).transpose(0, 2, 1, 3)
                    .reshape(b, (long) rows * (cols - 1), c);
        } else {
            merged = map.matMul(grid.reshape(b, rows, (long) cols * c)).reshape(b, (long) (rows - 1) * cols, c);
        }
        return NDArrays.concat(new NDList(f.get(":, :1, :"), merged), 1);
    }

    /** Rows of unit length along the last axis (a zero row stays zero). */
    static NDArray normalise(NDArray v) {
        int last = v.getShape().dimension() - 1;
        return v.div(v.mul(v).sum(new int[] {last}, true).sqrt().maximum(1e-12f));
    }

    /** [s x | s] (B, n, D + 1) back to tokens x and sizes s. */
    private static Merged split(NDArray f, long d) {
        NDArray s = f.get(":, :, " + d + ":");
        return new Merged(f.get(":, :, :" + d).div(s), s);
    }

    private static float[][] rows(NDArray values) {
        int b = (int) values.getShape().get(0);
        int n = (int) values.getShape().get(1);
        float[] flat = values.toFloatArray();
        float[][] out = new float[b][n];
        for (int i = 0; i < b; i++) {
            System.arraycopy(flat, i * n, out[i], 0, n);
        }
        return out;
    }
}
