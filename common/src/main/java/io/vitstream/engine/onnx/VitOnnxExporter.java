package io.vitstream.engine.onnx;

import static io.vitstream.engine.onnx.OnnxGraph.attr;
import static io.vitstream.engine.onnx.OnnxGraph.in;
import static io.vitstream.engine.onnx.OnnxGraph.ints;

import ai.onnx.proto.OnnxMl.TensorProto;
import io.vitstream.model.BlockConfig;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.TokenEmbedding;
import io.vitstream.model.TokenPredictor;
import io.vitstream.model.VitConfig;
import io.vitstream.sparsity.MergeSchedule;
import io.vitstream.sparsity.SparseForward;
import io.vitstream.sparsity.TokenMerging;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Writes the ONNX model (opset 17, IR 8) of exactly the inference forward pass that {@link SparseForward#infer} runs
 * on DJL, at one keep policy: the stem convolutions with GELU (as the Erf pattern ONNX Runtime fuses into one kernel),
 * the patch projection, CLS and positions, pre-norm blocks with their own head counts and MLP widths
 * ({@code LayerNormalization}), the final norm of CLS and the classifier. Before each sparsifier stage that drops
 * tokens, the graph scores the patch tokens (the learned predictor, or the previous block's CLS attention for the
 * training-free baseline), keeps the top k (k fixed in the graph, so the shapes after it are static), sorts the kept
 * indices into token order and gathers CLS plus the kept tokens, fusing the dropped ones into a package token when
 * the policy asks for it.
 *
 * <p>Opset 17 plus one contrib op: the graph is for ONNX Runtime (which serves it), not for any ONNX runtime.
 *
 * <p>Input {@code pixels} (B, C, H, W) normalised images; outputs {@code logits} (B, K) and, for each stage that
 * drops tokens, {@code kept<s>} (B, k) int64, the kept patch indices relative to the tokens entering stage s (what
 * {@link SparseForward#infer}'s {@code keptIndices} lists).
 *
 * <p>Algebraically equal rewrites, each saving ops: attention as ONNX Runtime's fused {@code Attention} kernel (its
 * contrib domain, {@code com.microsoft}) and the linear layers as {@code Gemm} on (B * n, D) rows; the predictor's
 * keep-minus-drop logit folded into one output column, and its global feature's part of fc1 into a (B, 1) row added
 * to the local part's product instead of a broadcast and a concatenation. Where the CLS-attention baseline needs the
 * attention probabilities, that block is written out op by op, with the scale folded into the query weights.
 */
public final class VitOnnxExporter {
    public static final String INPUT = "pixels";
    public static final String LOGITS = "logits";
    private static final float SQRT2 = (float) Math.sqrt(2.0);

    private final VitConfig config;
    private final SparsifierConfig sparsifier;
    private final ModelWeights.Reader w;
    private final OnnxGraph g;
    private String batchDim; // (1) int64: the batch size, read from the input's shape once

    private VitOnnxExporter(VitConfig config, SparsifierConfig sparsifier, ModelWeights weights) {
        this.config = config;
        this.sparsifier = sparsifier;
        this.w = weights.reader();
        this.g = new OnnxGraph("vitstream");
    }

    /** The serialised ONNX model of {@code config}'s forward pass at {@code policy}. */
    public static byte[] export(VitConfig config, SparsifierConfig sparsifier, ModelWeights weights,
            KeepPolicy policy) {
        return new VitOnnxExporter(config, sparsifier, weights).write(policy).toByteArray();
    }

    /** Name of the graph output with the kept patch indices of sparsifier stage {@code stage}. */
    public static String keptOutput(int stage) {
        return "kept" + stage;
    }

    /**
     * The stages that drop tokens at {@code policy}, as {stage index, block index, patches kept}: what the graph's k
     * are.
     */
    public static List<int[]> selections(VitConfig config, SparsifierConfig sparsifier, KeepPolicy policy) {
        List<int[]> out = new ArrayList<>();
        if (policy.isDense() || policy.merges()) {
            return out;
        }
        SparsifierConfig stages;
        try {
            stages = SparseForward.stagesFor(config, sparsifier, policy);
        } catch (IllegalArgumentException e) {
            throw new UnsupportedModelException(e.getMessage());
        }
        int patches = config.numPatches();
        for (int s = 0; s < stages.stages().size(); s++) {
            int k = SparseForward.keepCount(patches, policy.keepRatio());
            if (k < patches) {
                out.add(new int[] {s, stages.stages().get(s), k});
                patches = k;
            }
        }
        return out;
    }

    private ai.onnx.proto.OnnxMl.ModelProto write(KeepPolicy policy) {
        String pixels = g.input(INPUT, -1, config.channels(), config.imageSize(), config.imageSize());
        batchDim = g.op("Shape", in(pixels), attr("start", 0L), attr("end", 1L));
        String x = embed(pixels);
        if (policy.merges()) {
            x = mergingBlocks(x, MergeSchedule.forPolicy(config,
                    SparseForward.stagesFor(config, sparsifier, policy).stages(), policy));
        } else {
            x = droppingBlocks(x, policy);
        }
        // Weights of stages the policy does not run (all of them when dense) are part of the model all the same.
        w.skip("predictor");
        classify(x);
        w.requireAllUsed();
        String doc = String.format(Locale.ROOT, "vitstream ViT, keep ratio %s, %s%s", policy.keepRatio(),
                policy.method().id(), policy.packageToken() ? ", package token" : "");
        return g.model("vitstream", doc);
    }

    /** The blocks with token dropping before each sparsifier stage that drops tokens at {@code policy}. */
    private String droppingBlocks(String x, KeepPolicy policy) {
        List<int[]> selections = selections(config, sparsifier, policy);
        boolean learned = policy.method() == KeepPolicy.Method.LEARNED;
        int patches = config.numPatches();
        String clsAttention = null;
        Package pkg = null;
        int next = 0;
        for (int i = 0; i < config.depth(); i++) {
            if (next < selections.size() && selections.get(next)[1] == i) {
                int stage = selections.get(next)[0];
                int k = selections.get(next)[2];
                String candidates = slice(x, 1, 1 + patches, 1);
                String score;
                String weights = null; // (B, n) non-negative importance, for the package token
                if (learned) {
                    score = predictorScore("predictor" + stage, candidates, patches);
                    if (policy.packageToken()) {
                        weights = g.op("Sigmoid", in(g.op("Add", in(score, g.scalar(TokenPredictor.priorLogOdds(policy.keepRatio()))))));
                    }
                } else {
                    score = slice(clsAttention, 1, 1 + patches, 1);
                    weights = score;
                }
                String index = keptIndices(score, k, keptOutput(stage));
                String kept = g.op("GatherND", in(candidates, unsqueeze(index, 2)), attr("batch_dims", 1L));
                String cls = slice(x, 0, 1, 1);
                if (policy.packageToken()) {
                    pkg = fuse(candidates, weights, kept, index, pkg);
                    x = g.op("Concat", in(cls, kept, unsqueeze(pkg.token, 1)), attr("axis", 1L));
                } else {
                    x = g.op("Concat", in(cls, kept), attr("axis", 1L));
                }
                patches = k;
                next++;
            }
            boolean wantCls = !learned && next < selections.size() && selections.get(next)[1] == i + 1;
            int tokens = 1 + patches + (pkg != null ? 1 : 0);
            String[] out = block("block" + i, config.blocks().get(i), x, tokens, wantCls);
            x = out[0];
            clsAttention = out[1];
        }
        return x;
    }

    /**
     * The blocks with token merging at {@code schedule}, as {@link TokenMerging#infer} runs them: a block that merges,
     * or follows a merge, is written out op by op (proportional attention adds log sizes to the logits; the merge
     * needs the keys averaged over heads), the merge between the attention residual and the MLP; blocks before the
     * first merge are the fused ones of the dense graph.
     */
    private String mergingBlocks(String x, MergeSchedule schedule) {
        boolean tome = schedule.method() == KeepPolicy.Method.TOME;
        String sizes = null; // (B, n, 1)
        int n = config.numTokens();
        int rows = config.gridSize();
        int cols = config.gridSize();
        int linesDone = 0;
        for (int i = 0; i < config.depth(); i++) {
            String name = "block" + i;
            BlockConfig shape = config.blocks().get(i);
            if (sizes == null && !schedule.mergesIn(i)) {
                x = block(name, shape, x, n, false)[0];
                continue;
            }
            // log sizes (B, n, 1) as a bias over keys (B, 1, 1, n)
            String keyBias = sizes == null ? null : g.op("Reshape", in(g.op("Log", in(sizes)), g.longs(0, 1, 1, n)));
            String[] attention = attentionOps(name, shape, layerNorm(name + ".norm1", x), keyBias);
            x = g.op("Add", in(x, attention[0]));
            if (schedule.mergesIn(i)) {
                String metric = g.op("ReduceMean", in(g.op("Reshape", in(attention[2],
                        g.longs(0, 0, shape.heads(), shape.headDim())))), ints("axes", 2), attr("keepdims", 0L));
                String s = sizes != null ? sizes : g.op("Expand", in(g.floatTensor(new float[] {1f}, 1, 1, 1), g.op("Concat", in(batchDim, g.longs(n, 1)), attr("axis", 0L))));
                int m = schedule.merges()[i];
                String[] merged = tome ? bipartiteMerge(x, s, metric, n, m)
                        : gridMerge(x, s, metric, shape.headDim(), rows, cols, linesDone % 2 == 0, m);
                x = merged[0];
                sizes = merged[1];
                linesDone += m;
                rows = schedule.gridRows()[i];
                cols = schedule.gridColumns()[i];
                n = schedule.mlpTokens()[i];
            }
            x = feedForward(name, x);
        }
        return x;
    }

    /** {@link TokenMerging#bipartiteMerge}: ToMe's matching of r of n tokens; returns the tokens and sizes. */
    private String[] bipartiteMerge(String x, String sizes, String metric, int n, int r) {
        int d = config.dim();
        int candidates = (n + 1) / 2 - 1;
        int nb = n / 2;
        String m = normalise(metric, 2);
        String scores = g.op("MatMul", in(strided(m, 2, n), g.op("Transpose", in(strided(m, 1, n)),
                ints("perm", 0, 2, 1)))); // (B, |A| - 1, |B|)
        String best = g.op("ReduceMax", in(scores), ints("axes", 2), attr("keepdims", 0L));
        String match = g.op("ArgMax", in(scores), attr("axis", 2L), attr("keepdims", 0L));
        String order = g.ops("TopK", 2, in(best, g.longs(candidates)), attr("axis", 1L), attr("largest", 1L),
                attr("sorted", 1L))[1];
        String src = slice(order, 0, r, 1);
        String dst = g.op("GatherElements", in(match, src), attr("axis", 1L)); // (B, r)
        String f = g.op("Concat", in(g.op("Mul", in(x, sizes)), sizes), attr("axis", 2L)); // (B, n, D + 1)
        String fa = strided(f, 2, n);
        String fb = strided(f, 1, n);
        String moved = g.op("GatherND", in(fa, unsqueeze(src, 2)), attr("batch_dims", 1L)); // (B, r, D + 1)
        String into = g.op("MatMul", in(oneHotRows(dst, nb), moved)); // (B, |B|, D + 1)
        List<String> parts = new ArrayList<>(List.of(slice(f, 0, 1, 1)));
        if (r < candidates) {
            String rest = slice(order, r, candidates, 1);
            // ONNX has no Sort: the smallest of the indices, in ascending order, are the indices sorted.
            String unmerged = g.ops("TopK", 2, in(rest, g.longs(candidates - r)), attr("axis", 1L),
                    attr("largest", 0L), attr("sorted", 1L))[0];
            parts.add(g.op("GatherND", in(fa, unsqueeze(unmerged, 2)), attr("batch_dims", 1L)));
        }
        parts.add(g.op("Add", in(fb, into)));
        String out = g.op("Concat", parts.toArray(String[]::new), attr("axis", 1L));
        String s = slice(out, d, d + 1, 2);
        return new String[] {g.op("Div", in(slice(out, 0, d, 2), s)), s};
    }

    /** {@link TokenMerging#gridMerge}: {@code lines} column / row pair merges; returns the tokens and sizes. */
    private String[] gridMerge(String x, String sizes, String metric, int dh, int rows, int cols, boolean columnFirst,
            int lines) {
        int d = config.dim();
        String f = g.op("Concat", in(g.op("Mul", in(x, sizes)), g.op("Mul", in(metric, sizes)), sizes),
                attr("axis", 2L)); // [s x | s k | s]
        int c = d + dh + 1;
        boolean column = columnFirst;
        for (int l = 0; l < lines; l++) {
            f = mergeLine(f, rows, cols, column, c, d, dh);
            if (column) {
                cols--;
            } else {
                rows--;
            }
            column = !column;
        }
        String s = slice(f, d + dh, c, 2);
        return new String[] {g.op("Div", in(slice(f, 0, d, 2), s)), s};
    }

    /** One column-pair (or row-pair) merge of [s x | s k | s] tokens (B, 1 + rows x cols, c). */
    private String mergeLine(String f, int rows, int cols, boolean column, int c, int d, int dh) {
        String grid = g.op("Reshape", in(slice(f, 1, 1 + (long) rows * cols, 1), g.longs(0, rows, cols, c)));
        String keys = normalise(g.op("Div", in(slice(grid, d, d + dh, 3), slice(grid, c - 1, c, 3))), 3);
        String pairs;
        int lines = column ? cols : rows;
        if (column) {
            String dots = g.op("ReduceSum", in(g.op("Mul", in(slice(keys, 0, cols - 1, 2), slice(keys, 1, cols, 2))),
                    g.longs(3)), attr("keepdims", 0L)); // (B, rows, cols - 1)
            pairs = g.op("ReduceMean", in(dots), ints("axes", 1), attr("keepdims", 0L));
        } else {
            String dots = g.op("ReduceSum", in(g.op("Mul", in(slice(keys, 0, rows - 1, 1), slice(keys, 1, rows, 1))),
                    g.longs(3)), attr("keepdims", 0L)); // (B, rows - 1, cols)
            pairs = g.op("ReduceMean", in(dots), ints("axes", 2), attr("keepdims", 0L));
        }
        String chosen = g.op("ArgMax", in(pairs), attr("axis", 1L), attr("keepdims", 1L)); // (B, 1)
        long[] index = new long[lines];
        for (int i = 0; i < lines; i++) {
            index[i] = i;
        }
        String line = g.longTensor(index, 1, lines);
        String target = g.op("Sub", in(line, g.op("Cast", in(g.op("Greater", in(line, chosen))),
                attr("to", (long) TensorProto.DataType.INT64.getNumber())))); // (B, lines)
        String map = oneHotRows(target, lines - 1); // (B, lines - 1, lines)
        String merged;
        if (column) {
            String byColumn = g.op("Reshape", in(g.op("Transpose", in(grid), ints("perm", 0, 2, 1, 3)),
                    g.longs(0, cols, (long) rows * c)));
            merged = g.op("Reshape", in(g.op("MatMul", in(map, byColumn)), g.longs(0, cols - 1, rows, c)));
            merged = g.op("Reshape", in(g.op("Transpose", in(merged), ints("perm", 0, 2, 1, 3)),
                    g.longs(0, (long) rows * (cols - 1), c)));
        } else {
            merged = g.op("MatMul", in(map, g.op("Reshape", in(grid, g.longs(0, rows, (long) cols * c)))));
            merged = g.op("Reshape", in(merged, g.longs(0, (long) (rows - 1) * cols, c)));
        }
        return g.op("Concat", in(slice(f, 0, 1, 1), merged), attr("axis", 1L));
    }

    /**
     * The transposed one-hot of int64 {@code index} (B, k): (B, depth, k) floats, 1 where index[b, i] == j, so a
     * MatMul with (B, k, C) rows sums each row into its target (a scatter-add).
     */
    private String oneHotRows(String index, int depth) {
        long[] values = new long[depth];
        for (int j = 0; j < depth; j++) {
            values[j] = j;
        }
        String targets = g.longTensor(values, 1, depth, 1);
        return g.op("Cast", in(g.op("Equal", in(unsqueeze(index, 1), targets))),
                attr("to", (long) TensorProto.DataType.FLOAT.getNumber()));
    }

    /** Rows of unit length along {@code axis}, as {@code TokenMerging.normalise}. */
    private String normalise(String v, long axis) {
        String norm = g.op("Sqrt", in(g.op("ReduceSum", in(g.op("Mul", in(v, v)), g.longs(axis)),
                attr("keepdims", 1L))));
        return g.op("Div", in(v, g.op("Max", in(norm, g.scalar(1e-12f)))));
    }

    /** Every second token along axis 1 from {@code start}, to {@code end}. */
    private String strided(String x, long start, long end) {
        return g.op("Slice", in(x, g.longs(start), g.longs(end), g.longs(1), g.longs(2)));
    }

    /** Pixels (B, C, H, W) to tokens (B, N, D). */
    private String embed(String pixels) {
        String x = pixels;
        for (int i = 0; i < config.stemLayers(); i++) {
            String name = "embedding." + TokenEmbedding.stemName(i);
            x = gelu(conv(name, x, 3, 1, 1));
        }
        x = conv("embedding.patch", x, config.patchSize(), config.patchSize(), 0); // (B, D, G, G)
        x = g.op("Reshape", in(x, g.longs(0, config.dim(), config.numPatches())));
        x = g.op("Transpose", in(x), ints("perm", 0, 2, 1)); // (B, N, D)
        String clsShape = g.op("Concat", in(batchDim, g.longs(1, config.dim())), attr("axis", 0L));
        String cls = g.op("Expand", in(weight("embedding.cls"), clsShape)); // (B, 1, D)
        x = g.op("Concat", in(cls, x), attr("axis", 1L));
        return g.op("Add", in(x, weight("embedding.positions")));
    }

    private String conv(String name, String x, int kernel, int stride, int pad) {
        ModelWeights.Tensor k = w.take(name + ".weight");
        if (k.shape().length != 4) {
            throw new UnsupportedModelException(name + ".weight has shape " + java.util.Arrays.toString(k.shape())
                    + ", a 2-D convolution needs 4 dimensions");
        }
        return g.op("Conv", in(x, g.floats(name + ".weight", k.data(), k.shape()), weight(name + ".bias")),
                ints("kernel_shape", kernel, kernel), ints("strides", stride, stride),
                ints("pads", pad, pad, pad, pad));
    }

    /**
     * One pre-norm block on (B, n, D) tokens; returns the output tokens and, when asked for, the CLS attention (B, n)
     * averaged over heads. Without that, attention runs as ONNX Runtime's fused {@code Attention} kernel (the qkv
     * projection, scaled dot products, softmax and the mix of values in one op) and the rest on (B * n, D) rows, where
     * {@code Gemm} adds each bias in the same kernel: measured 1.14x the plain graph on the dense model (batch 64, one
     * thread, interleaved).
     */
    private String[] block(String name, BlockConfig shape, String x, int tokens, boolean wantClsAttention) {
        if (wantClsAttention) {
            return blockWithClsAttention(name, shape, x);
        }
        int heads = shape.heads();
        int width = heads * shape.headDim();
        String h = layerNorm(name + ".norm1", x);
        // The weight as (D, 3 * H * Dh), columns [Q | K | V], each head's Dh contiguous: our row order, transposed.
        ModelWeights.Tensor qkv = w.take(name + ".attention.qkv.weight");
        int inDim = qkv.dim(1);
        float[] t = new float[inDim * 3 * width];
        for (int o = 0; o < 3 * width; o++) {
            for (int i = 0; i < inDim; i++) {
                t[i * 3 * width + o] = qkv.data()[o * inDim + i];
            }
        }
        String mixed = g.contrib("Attention", in(h, g.floats(name + ".attention.qkv.weight", t, inDim, 3L * width),
                weight(name + ".attention.qkv.bias")), attr("num_heads", (long) heads),
                ints("qkv_hidden_sizes", width, width, width)); // (B, n, H * Dh)
        String rows = g.op("Reshape", in(x, g.longs(-1, config.dim())));
        rows = g.op("Add", in(rows, gemm(name + ".attention.proj", g.op("Reshape", in(mixed, g.longs(-1, width))))));
        String m = gelu(gemm(name + ".mlp.fc1", layerNorm(name + ".norm2", rows)));
        rows = g.op("Add", in(rows, gemm(name + ".mlp.fc2", m)));
        return new String[] {g.op("Reshape", in(rows, g.longs(-1, tokens, config.dim()))), null};
    }

    /** The block with attention written out, for the CLS-attention baseline that ranks tokens by its probabilities. */
    private String[] blockWithClsAttention(String name, BlockConfig shape, String x) {
        String[] attention = attentionOps(name, shape, layerNorm(name + ".norm1", x), null);
        x = g.op("Add", in(x, attention[0]));
        x = feedForward(name, x);
        String row = g.op("Gather", in(attention[1], g.index(0)), attr("axis", 2L)); // (B, H, n)
        String cls = g.op("ReduceMean", in(row), ints("axes", 1), attr("keepdims", 0L));
        return new String[] {x, cls};
    }

    /**
     * Attention written out op by op on normed tokens (B, n, D), the scale folded into the query weights; returns the
     * output after the projection (B, n, D), the probabilities (B, H, n, n) and the keys (B, n, H * Dh).
     *
     * @param keyBias added to the logits over keys, (B, 1, 1, n), or null
     */
    private String[] attentionOps(String name, BlockConfig shape, String h, String keyBias) {
        int heads = shape.heads();
        int headDim = shape.headDim();
        int width = heads * headDim;
        String qkv = linear(name + ".attention.qkv", h, 1.0f / (float) Math.sqrt(headDim), width);
        String[] parts = g.ops("Split", 3, in(qkv, g.longs(width, width, width)), attr("axis", 2L));
        String q = heads(parts[0], heads, headDim, 0, 2, 1, 3); // (B, H, n, Dh)
        String k = heads(parts[1], heads, headDim, 0, 2, 3, 1); // (B, H, Dh, n)
        String v = heads(parts[2], heads, headDim, 0, 2, 1, 3);
        String logits = g.op("MatMul", in(q, k)); // (B, H, n, n)
        if (keyBias != null) {
            logits = g.op("Add", in(logits, keyBias));
        }
        String attention = g.op("Softmax", in(logits), attr("axis", -1L));
        String mixed = g.op("Transpose", in(g.op("MatMul", in(attention, v))), ints("perm", 0, 2, 1, 3));
        mixed = g.op("Reshape", in(mixed, g.longs(0, 0, width)));
        String out = linear(name + ".attention.proj", mixed, 1f, 0);
        return new String[] {out, attention, parts[1]};
    }

    /** The MLP half of a block on (B, n, D) tokens: x + mlp(LN(x)). */
    private String feedForward(String name, String x) {
        String m = gelu(linear(name + ".mlp.fc1", layerNorm(name + ".norm2", x), 1f, 0));
        return g.op("Add", in(x, linear(name + ".mlp.fc2", m, 1f, 0)));
    }

    /** (B, n, H * Dh) to per-head (B, n, H, Dh), then transposed by {@code perm}. */
    private String heads(String x, int heads, int headDim, long... perm) {
        return g.op("Transpose", in(g.op("Reshape", in(x, g.longs(0, 0, heads, headDim)))), ints("perm", perm));
    }

    /**
     * The learned predictor's keep-minus-drop logit per candidate, (B, n): what {@code TokenPredictor.keepScores}
     * ranks by.
     */
    private String predictorScore(String name, String tokens, int n) {
        ModelWeights.Tensor inW = w.take(name + ".in.weight");
        int hidden = inW.dim(0);
        int half = hidden / 2;
        String h = gelu(linear(name + ".in", layerNorm(name + ".norm", tokens), 1f, 0)); // (B, n, hidden)
        String[] parts = g.ops("Split", 2, in(h, g.longs(half, hidden - half)), attr("axis", 2L));
        String sum = g.op("ReduceSum", in(parts[1], g.longs(1)), attr("keepdims", 1L)); // (B, 1, half)
        String global = g.op("Div", in(sum, g.scalar(n + 1e-6f)));
        // fc1 over [local, global broadcast] = local x W_local^T + global x W_global^T.
        ModelWeights.Tensor fc1 = w.take(name + ".fc1.weight");
        int out1 = fc1.dim(0);
        float[] localT = new float[half * out1];
        float[] globalT = new float[(hidden - half) * out1];
        for (int o = 0; o < out1; o++) {
            for (int j = 0; j < hidden; j++) {
                float v = fc1.data()[o * hidden + j];
                if (j < half) {
                    localT[j * out1 + o] = v;
                } else {
                    globalT[(j - half) * out1 + o] = v;
                }
            }
        }
        String localPart = g.op("MatMul", in(parts[0], g.floats(name + ".fc1.local", localT, half, out1)));
        String globalPart = g.op("MatMul", in(global, g.floats(name + ".fc1.global", globalT, hidden - half, out1)));
        String f1 = g.op("Add", in(localPart, g.op("Add", in(globalPart, weight(name + ".fc1.bias")))));
        String f2 = gelu(linear(name + ".fc2", gelu(f1), 1f, 0));
        // out (2, hidden/4): the score is row 0 minus row 1, one column.
        ModelWeights.Tensor outW = w.take(name + ".out.weight");
        ModelWeights.Tensor outB = w.take(name + ".out.bias");
        int in2 = outW.dim(1);
        float[] diff = new float[in2];
        for (int j = 0; j < in2; j++) {
            diff[j] = outW.data()[j] - outW.data()[in2 + j];
        }
        String logit = g.op("MatMul", in(f2, g.floats(name + ".out.diff", diff, in2, 1)));
        logit = g.op("Add", in(logit, g.scalar(outB.data()[0] - outB.data()[1])));
        return g.op("Squeeze", in(logit, g.longs(2))); // (B, n)
    }

    /** Per row, the indices of the k highest scores in ascending (token) order, also a graph output. */
    private String keptIndices(String score, int k, String outputName) {
        String top = g.ops("TopK", 2, in(score, g.longs(k)), attr("axis", 1L), attr("largest", 1L),
                attr("sorted", 1L))[1];
        // ONNX has no Sort: the k smallest of the indices, in ascending order, are the indices sorted.
        g.node("TopK", new String[] {outputName, outputName + "_positions"}, in(top, g.longs(k)), attr("axis", 1L),
                attr("largest", 0L), attr("sorted", 1L));
        g.output(outputName, TensorProto.DataType.INT64, -1, k);
        return outputName;
    }

    /** The package token so far: its value (B, D) and the weight fused into it (B, 1). */
    private record Package(String token, String mass) {}

    /** EViT / SPViT: the dropped candidates' weighted mean, merged with the package token of earlier stages. */
    private Package fuse(String candidates, String weights, String kept, String index, Package previous) {
        String keptWeights = g.op("GatherElements", in(weights, index), attr("axis", 1L)); // (B, k)
        String all = g.op("ReduceSum", in(g.op("Mul", in(candidates, unsqueeze(weights, 2))), g.longs(1)),
                attr("keepdims", 0L));
        String keptSum = g.op("ReduceSum", in(g.op("Mul", in(kept, unsqueeze(keptWeights, 2))), g.longs(1)),
                attr("keepdims", 0L));
        String fused = g.op("Sub", in(all, keptSum)); // (B, D)
        String mass = g.op("Sub", in(g.op("ReduceSum", in(weights, g.longs(1)), attr("keepdims", 1L)),
                g.op("ReduceSum", in(keptWeights, g.longs(1)), attr("keepdims", 1L)))); // (B, 1)
        if (previous != null) {
            fused = g.op("Add", in(fused, g.op("Mul", in(previous.token, previous.mass))));
            mass = g.op("Add", in(mass, previous.mass));
        }
        mass = g.op("Add", in(mass, g.scalar(1e-9f)));
        return new Package(g.op("Div", in(fused, mass)), mass);
    }

    /** Final norm of the CLS token and the classifier: logits (B, K), the graph's output. */
    private void classify(String x) {
        String cls = g.op("Gather", in(x, g.index(0)), attr("axis", 1L)); // (B, D)
        String normed = layerNorm("norm", cls);
        ModelWeights.Tensor head = w.take("head.weight");
        g.node("Gemm", new String[] {LOGITS}, in(normed, g.floats("head.weight", head.data(), head.shape()),
                weight("head.bias")), attr("transB", 1L));
        g.output(LOGITS, TensorProto.DataType.FLOAT, -1, config.numClasses());
    }

    /**
     * x W^T + b for a DJL {@code Linear} named {@code name} (weight (out, in)), the weight stored transposed for
     * MatMul; the first {@code scaledRows} output units (0: none) are multiplied by {@code scale}.
     */
    private String linear(String name, String x, float scale, int scaledRows) {
        ModelWeights.Tensor weight = w.take(name + ".weight");
        ModelWeights.Tensor bias = w.take(name + ".bias");
        int out = weight.dim(0);
        int inDim = weight.dim(1);
        float[] t = new float[inDim * out];
        float[] b = bias.data().clone();
        for (int o = 0; o < out; o++) {
            float s = o < scaledRows ? scale : 1f;
            for (int i = 0; i < inDim; i++) {
                t[i * out + o] = weight.data()[o * inDim + i] * s;
            }
            b[o] *= s;
        }
        String product = g.op("MatMul", in(x, g.floats(name + ".weight", t, inDim, out)));
        return g.op("Add", in(product, g.floats(name + ".bias", b, out)));
    }

    /** x W^T + b on rows (M, in) for a DJL {@code Linear}: one Gemm, the weight as stored. */
    private String gemm(String name, String x) {
        return g.op("Gemm", in(x, weight(name + ".weight"), weight(name + ".bias")), attr("transB", 1L));
    }

    private String layerNorm(String name, String x) {
        return g.op("LayerNormalization", in(x, weight(name + ".gamma"), weight(name + ".beta")),
                attr("axis", -1L), attr("epsilon", 1e-6f));
    }

    /** Exact (erf) GELU as Div, Erf, Add, Mul, Mul: the pattern ONNX Runtime fuses into its Gelu kernel. */
    private String gelu(String x) {
        String erf = g.op("Erf", in(g.op("Div", in(x, g.scalar(SQRT2)))));
        String half = g.op("Mul", in(x, g.op("Add", in(erf, g.scalar(1f)))));
        return g.op("Mul", in(half, g.scalar(0.5f)));
    }

    private String slice(String x, long start, long end, long axis) {
        return g.op("Slice", in(x, g.longs(start), g.longs(end), g.longs(axis)));
    }

    private String unsqueeze(String x, long axis) {
        return g.op("Unsqueeze", in(x, g.longs(axis)));
    }

    /** A weight as an initializer under its own name. */
    private String weight(String name) {
        ModelWeights.Tensor t = w.take(name);
        return g.floats(name, t.data(), t.shape());
    }
}
