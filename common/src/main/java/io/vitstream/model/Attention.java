package io.vitstream.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.function.Consumer;

/**
 * Multi-head self-attention with its own head count and head width.
 *
 * <p>Input (B, N, D) and optionally a key policy (B, N) with values in [0, 1]: DynamicViT's attention masking, where
 * token j contributes to query i in proportion to policy[j] (each token always attends to itself, so rows never
 * empty). With a 0/1 policy a dropped token has no influence on any kept token, while shapes stay fixed for
 * training; the policy is multiplicative so gradients reach the token predictors. Output (B, N, D), and, when the
 * forward call's parameters hold {@link #CLS_ATTENTION}, the attention of the CLS query averaged over heads, (B, N),
 * which the CLS-attention baseline ranks tokens by (only then: it costs two ops per block on every batch).
 *
 * <p>Weight layout (relied on by structured pruning): {@code qkv.weight} is (3 * H * Dh, D) with rows ordered
 * [Q head 0..H-1 | K head 0..H-1 | V head 0..H-1], each head Dh contiguous rows; {@code proj.weight} is (D, H * Dh).
 */
public final class Attention extends AbstractBlock {
    /** Key of a forward parameter that asks for the CLS attention as a second output. */
    public static final String CLS_ATTENTION = "clsAttention";
    /** The forward parameters that ask for it. */
    public static final PairList<String, Object> WITH_CLS_ATTENTION =
            new PairList<>(java.util.List.of(CLS_ATTENTION), java.util.List.of(Boolean.TRUE));

    private final int dim;
    private final int heads;
    private final int headDim;
    private final Linear qkv;
    private final Linear proj;
    private volatile NDArray headGate;
    private volatile NDArray qkvGate;
    private volatile Consumer<NDArray> projectionInputTap;

    private Attention(Builder builder) {
        this.dim = builder.dim;
        this.heads = builder.heads;
        this.headDim = builder.headDim;
        this.qkv = addChildBlock("qkv", Linear.builder().setUnits(3L * heads * headDim).build());
        this.proj = addChildBlock("proj", Linear.builder().setUnits(dim).build());
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        Parts p = attend(ps, inputs.get(0), inputs.size() > 1 ? inputs.get(1) : null, null, training);
        if (!wantsClsAttention(params)) {
            return new NDList(p.out);
        }
        NDArray clsAttention = p.attention.get(":, :, 0, :").mean(new int[] {1}); // (B, N)
        return new NDList(p.out, clsAttention);
    }

    /** The output of {@link #forwardProportional}. */
    public record MergingOutput(NDArray out, NDArray meanKeys) {}

    /**
     * Attention for token merging (ToMe): {@code logSizes} (B, N), the log of how many patches each token stands for
     * (null: all 1), is added to the logits over keys (proportional attention), so a token of size s weighs as s
     * copies of itself would; returns the output (B, N, D) and the keys averaged over heads (B, N, Dh), the features
     * merging compares tokens by.
     */
    public MergingOutput forwardProportional(ParameterStore ps, NDArray x, NDArray logSizes, boolean training) {
        NDArray bias = logSizes == null ? null
                : logSizes.reshape(logSizes.getShape().get(0), 1, 1, logSizes.getShape().get(1));
        Parts p = attend(ps, x, null, bias, training);
        return new MergingOutput(p.out, p.keys.mean(new int[] {1}));
    }

    /** Output (B, N, D), probabilities (B, H, N, N) and keys (B, H, N, Dh) of one attention pass. */
    private record Parts(NDArray out, NDArray attention, NDArray keys) {}

    /**
     * @param policy key policy (B, N) or null
     * @param keyBias added to the logits, broadcast to (B, H, N, N), or null
     */
    private Parts attend(ParameterStore ps, NDArray x, NDArray policy, NDArray keyBias, boolean training) {
        long b = x.getShape().get(0);
        long n = x.getShape().get(1);
        NDArray qkvOut = qkv.forward(ps, new NDList(x), training).singletonOrThrow();
        qkvOut = qkvOut.reshape(b, n, 3, heads, headDim).transpose(2, 0, 3, 1, 4); // (3, B, H, N, Dh)
        NDArray q = qkvOut.get(0).mul(1.0 / Math.sqrt(headDim));
        NDArray k = qkvOut.get(1);
        NDArray v = qkvOut.get(2);
        NDArray dims = qkvGate;
        if (dims != null) {
            NDArray g = dims.reshape(1, heads, 1, headDim);
            q = q.mul(g);
            k = k.mul(g);
            v = v.mul(g);
        }
        NDArray logits = q.matMul(k.swapAxes(2, 3)); // (B, H, N, N)
        if (keyBias != null) {
            logits = logits.add(keyBias);
        }
        NDArray attention = policy != null ? maskedSoftmax(logits, policy) : logits.softmax(-1);
        NDArray mixed = attention.matMul(v); // (B, H, N, Dh)
        NDArray gate = headGate;
        if (gate != null) {
            mixed = mixed.mul(gate.reshape(gate.getShape().dimension() == 1 ? 1 : b, heads, 1, 1));
        }
        NDArray out = mixed.transpose(0, 2, 1, 3).reshape(b, n, (long) heads * headDim);
        Consumer<NDArray> tap = projectionInputTap;
        if (tap != null) {
            tap.accept(out);
        }
        out = proj.forward(ps, new NDList(out), training).singletonOrThrow();
        return new Parts(out, attention, k);
    }

    /** Whether forward parameters ask for the CLS attention. */
    private static boolean wantsClsAttention(PairList<String, Object> params) {
        return params != null && Boolean.TRUE.equals(params.get(CLS_ATTENTION));
    }

    /** Softmax over keys weighted by the key policy (B, N), with the diagonal always weighted 1. */
    private static NDArray maskedSoftmax(NDArray logits, NDArray policy) {
        long b = logits.getShape().get(0);
        long n = logits.getShape().get(3);
        NDArray eye = logits.getManager().eye((int) n).reshape(1, 1, n, n);
        NDArray keys = policy.reshape(b, 1, 1, n);
        NDArray weights = keys.add(eye.mul(keys.neg().add(1))); // policy off the diagonal, 1 on it
        NDArray shifted = logits.sub(logits.max(new int[] {3}, true)).exp().mul(weights);
        return shifted.div(shifted.sum(new int[] {3}, true));
    }

    /** The output and, when asked for in the forward parameters, the CLS attention. */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape in = inputShapes[0];
        return new Shape[] {in, new Shape(in.get(0), in.get(1))};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape in = inputShapes[0];
        qkv.initialize(manager, dataType, in);
        proj.initialize(manager, dataType, new Shape(in.get(0), in.get(1), (long) heads * headDim));
    }

    /**
     * Multiplies each head's output by a gate before the projection: shape (H) for every input alike or (B, H) per
     * input; null (the default) for none. Structured pruning uses it for gate saliency (with gradients) and to check
     * that a sliced model equals this one with the removed heads gated to 0. Not used in serving.
     */
    public void setHeadGate(NDArray gate) {
        this.headGate = gate;
    }

    /**
     * Multiplies q, k and v alike by a gate per (head, head dimension), shape (H, Dh); null (the default) for none.
     * ViT-Slim's attention search mask: a zero entry removes that dimension from both the head's dot products and its
     * output. For structured pruning's mask search; not used in serving.
     */
    public void setQkvGate(NDArray gate) {
        this.qkvGate = gate;
    }

    /**
     * Receives the projection's input (B, N, H * Dh), heads gated, on every forward pass; null (the default) for
     * none. Structured pruning's CAP step builds the projection's input Hessian from it on calibration images. Not
     * used in serving. The array lives in the forward pass's manager: copy what is kept.
     */
    public void setProjectionInputTap(Consumer<NDArray> tap) {
        this.projectionInputTap = tap;
    }

    public int heads() {
        return heads;
    }

    public int headDim() {
        return headDim;
    }

    /** Builder: {@code setDim}, {@code setHeads}, {@code setHeadDim} are required. */
    public static final class Builder {
        private int dim;
        private int heads;
        private int headDim;

        public Builder setDim(int dim) {
            this.dim = dim;
            return this;
        }

        public Builder setHeads(int heads) {
            this.heads = heads;
            return this;
        }

        public Builder setHeadDim(int headDim) {
            this.headDim = headDim;
            return this;
        }

        public Attention build() {
            if (dim < 1 || heads < 1 || headDim < 1) {
                throw new IllegalArgumentException(
                        "Attention needs positive dim, heads and head_dim, got " + dim + ", " + heads + ", " + headDim);
            }
            return new Attention(this);
        }
    }
}
