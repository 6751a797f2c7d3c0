package io.vitstream.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * Pre-norm transformer block: {@code x + attn(LN(x))}, then {@code x + mlp(LN(x))}.
 *
 * <p>Input (B, N, D) and an optional key policy (B, N) (see {@link Attention}); output (B, N, D), and the CLS
 * attention (B, N) of this block when the forward parameters ask for it ({@link Attention#WITH_CLS_ATTENTION}).
 */
public final class TransformerBlock extends AbstractBlock {
    private final BlockConfig shape;
    private final LayerNorm norm1;
    private final Attention attention;
    private final LayerNorm norm2;
    private final Mlp mlp;
    private volatile NDArray blockGate;

    private TransformerBlock(Builder builder) {
        this.shape = builder.shape;
        this.norm1 = addChildBlock("norm1", LayerNorm.builder().axis(2).optEpsilon(1e-6f).build());
        this.attention = addChildBlock("attention", Attention.builder()
                .setDim(builder.dim)
                .setHeads(shape.heads())
                .setHeadDim(shape.headDim())
                .build());
        this.norm2 = addChildBlock("norm2", LayerNorm.builder().axis(2).optEpsilon(1e-6f).build());
        this.mlp = addChildBlock("mlp", Mlp.builder().setDim(builder.dim).setHidden(shape.mlpDim()).build());
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.get(0);
        NDList attnIn = new NDList(norm1.forward(ps, new NDList(x), training).singletonOrThrow());
        if (inputs.size() > 1) {
            attnIn.add(inputs.get(1));
        }
        NDList attnOut = attention.forward(ps, attnIn, training, params);
        x = x.add(gated(attnOut.get(0), x));
        x = feedForward(ps, x, training);
        return attnOut.size() > 1 ? new NDList(x, attnOut.get(1)) : new NDList(x);
    }

    /** The attention half of a block for token merging, see {@link #attentionResidual}. */
    public record AttentionHalf(NDArray tokens, NDArray meanKeys) {}

    /**
     * The first half of the block, {@code x + attn(LN(x))}, with proportional attention over tokens that stand for
     * several patches; token merging (ToMe) runs between this and {@link #feedForward}, so the MLP sees fewer tokens
     * than the attention did. The two halves in a row, with null sizes, are the block's forward pass.
     *
     * @param x tokens (B, N, D)
     * @param logSizes (B, N) log of the patches each token stands for, or null when every token is one patch
     * @return the tokens after the attention residual (B, N, D) and the keys averaged over heads (B, N, Dh)
     */
    public AttentionHalf attentionResidual(ParameterStore ps, NDArray x, NDArray logSizes, boolean training) {
        NDArray h = norm1.forward(ps, new NDList(x), training).singletonOrThrow();
        Attention.MergingOutput out = attention.forwardProportional(ps, h, logSizes, training);
        return new AttentionHalf(x.add(gated(out.out(), x)), out.meanKeys());
    }

    /** The second half of the block: {@code x + mlp(LN(x))} on tokens (B, N, D). */
    public NDArray feedForward(ParameterStore ps, NDArray x, boolean training) {
        NDArray h = norm2.forward(ps, new NDList(x), training).singletonOrThrow();
        NDArray m = mlp.forward(ps, new NDList(h), training).singletonOrThrow();
        return x.add(gated(m, x));
    }

    /** A residual branch times the block gate, when one is set. */
    private NDArray gated(NDArray branch, NDArray x) {
        NDArray gate = blockGate;
        return gate == null ? branch : branch.mul(gate.reshape(gate.size() == 1 ? 1 : x.getShape().get(0), 1, 1));
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
        norm1.initialize(manager, dataType, in);
        attention.initialize(manager, dataType, in);
        norm2.initialize(manager, dataType, in);
        mlp.initialize(manager, dataType, in);
    }

    /**
     * Multiplies both residual branches (attention and MLP) by a gate: one value for every input alike or shape (B) per
     * input; null (the default) for none. Gate 0 makes the block the identity, as if removed (depth pruning). For
     * structured pruning's gate saliency and slicing checks; not used in serving.
     */
    public void setBlockGate(NDArray gate) {
        this.blockGate = gate;
    }

    public Attention attention() {
        return attention;
    }

    public Mlp mlp() {
        return mlp;
    }

    public BlockConfig shape() {
        return shape;
    }

    /** Builder: {@code setDim} and {@code setShape} are required. */
    public static final class Builder {
        private int dim;
        private BlockConfig shape;

        public Builder setDim(int dim) {
            this.dim = dim;
            return this;
        }

        public Builder setShape(BlockConfig shape) {
            this.shape = shape;
            return this;
        }

        public TransformerBlock build() {
            if (dim < 1 || shape == null) {
                throw new IllegalArgumentException("TransformerBlock needs a positive dim and a BlockConfig");
            }
            return new TransformerBlock(this);
        }
    }
}
