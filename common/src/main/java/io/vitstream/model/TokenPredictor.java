package io.vitstream.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * DynamicViT's prediction module: scores each patch token from its own (local) feature and a global feature, the
 * policy-weighted mean over the tokens still kept. It is conditioned on the requested keep ratio r by adding the
 * prior log-odds log(r / (1 - r)) to the keep logit: during training the expected kept fraction then follows the
 * ratio drawn for the batch while the network learns the ranking; at inference (top-k) a shift shared by all tokens
 * leaves the ranking unchanged, so one model serves every ratio.
 *
 * <p>Input patch tokens (B, N, D), policy (B, N) (1 = kept so far) and keep ratio (B, 1). Output log-probabilities
 * (B, N, 2); channel 0 is "keep".
 */
public final class TokenPredictor extends AbstractBlock {
    private final int hidden;
    private final LayerNorm norm;
    private final Linear in;
    private final Linear fc1;
    private final Linear fc2;
    private final Linear out;

    private TokenPredictor(Builder builder) {
        this.hidden = builder.hidden;
        this.norm = addChildBlock("norm", LayerNorm.builder().axis(2).optEpsilon(1e-6f).build());
        this.in = addChildBlock("in", Linear.builder().setUnits(hidden).build());
        this.fc1 = addChildBlock("fc1", Linear.builder().setUnits(hidden / 2).build());
        this.fc2 = addChildBlock("fc2", Linear.builder().setUnits(hidden / 4).build());
        this.out = addChildBlock("out", Linear.builder().setUnits(2).build());
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray tokens = inputs.get(0);
        long b = tokens.getShape().get(0);
        NDArray logits = logits(ps, tokens, inputs.get(1), training); // (B, N, 2)
        NDArray r = inputs.get(2).reshape(b, 1, 1).clip(0.01f, 0.99f);
        NDArray priorLogOdds = r.log().sub(r.neg().add(1f).log()); // (B, 1, 1)
        NDArray offset = NDArrays.concat(new NDList(priorLogOdds, priorLogOdds.zerosLike()), 2); // keep, drop
        return new NDList(logits.add(offset).logSoftmax(2));
    }

    /**
     * Inference ranking of tokens that are all still kept: the keep logit minus the drop logit, (B, N). Top-k over it
     * picks the tokens top-k over the keep probability of {@link #forward} picks, up to ties (that probability is the
     * logistic of this score plus the ratio's prior log-odds, shared by every token), with a third of the ops and
     * without the probability's rounding to 1.0 for confident tokens.
     *
     * @param tokens patch tokens (B, N, D)
     */
    public NDArray keepScores(ParameterStore ps, NDArray tokens) {
        NDArray logits = logits(ps, tokens, null, false);
        return logits.get(":, :, 0").sub(logits.get(":, :, 1"));
    }

    /** Keep/drop logits (B, N, 2) before the ratio's prior; a null policy means every token is still kept. */
    private NDArray logits(ParameterStore ps, NDArray tokens, NDArray policy, boolean training) {
        long b = tokens.getShape().get(0);
        long n = tokens.getShape().get(1);
        NDArray h = norm.forward(ps, new NDList(tokens), training).singletonOrThrow();
        h = Activation.gelu(in.forward(ps, new NDList(h), training).singletonOrThrow()); // (B, N, H)
        int half = hidden / 2;
        NDArray local = h.get(":, :, :" + half);
        NDArray globalPart = h.get(":, :, " + half + ":");
        NDArray global;
        if (policy == null) {
            // The policy-weighted mean below with a policy of ones (equal up to the order of the float sums).
            global = globalPart.sum(new int[] {1}, true).div(n + 1e-6f);
        } else {
            NDArray p = policy.reshape(b, n, 1);
            global = globalPart.mul(p).sum(new int[] {1}, true).div(p.sum(new int[] {1}, true).add(1e-6f));
        }
        NDArray x = NDArrays.concat(new NDList(local, global.broadcast(b, n, half)), 2);
        x = Activation.gelu(fc1.forward(ps, new NDList(x), training).singletonOrThrow());
        x = Activation.gelu(fc2.forward(ps, new NDList(x), training).singletonOrThrow());
        return out.forward(ps, new NDList(x), training).singletonOrThrow();
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape t = inputShapes[0];
        return new Shape[] {new Shape(t.get(0), t.get(1), 2)};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape t = inputShapes[0];
        norm.initialize(manager, dataType, t);
        in.initialize(manager, dataType, t);
        fc1.initialize(manager, dataType, new Shape(t.get(0), t.get(1), hidden));
        fc2.initialize(manager, dataType, new Shape(t.get(0), t.get(1), hidden / 2));
        out.initialize(manager, dataType, new Shape(t.get(0), t.get(1), hidden / 4));
    }

    /**
     * The prior log-odds log(r / (1 - r)) this predictor adds to its keep logit for keep ratio r (r clipped to
     * [0.01, 0.99]): with it the logistic of {@link #keepScores} is the keep probability {@link #forward} gives.
     */
    public static float priorLogOdds(double keepRatio) {
        float r = Math.max(0.01f, Math.min(0.99f, (float) keepRatio));
        return (float) (Math.log(r) - Math.log(1f - r));
    }

    /** Multiply-adds per scored token. */
    public static long macsPerToken(int dim, int hidden) {
        return (long) dim * hidden + (long) hidden * (hidden / 2) + (long) (hidden / 2) * (hidden / 4)
                + (long) (hidden / 4) * 2;
    }

    /** Builder: {@code setHidden} is required (a positive multiple of 4). */
    public static final class Builder {
        private int hidden;

        public Builder setHidden(int hidden) {
            this.hidden = hidden;
            return this;
        }

        public TokenPredictor build() {
            if (hidden < 4 || hidden % 4 != 0) {
                throw new IllegalArgumentException("predictor hidden width must be a positive multiple of 4, got "
                        + hidden);
            }
            return new TokenPredictor(this);
        }
    }
}
