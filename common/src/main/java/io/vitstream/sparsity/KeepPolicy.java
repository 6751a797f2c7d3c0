package io.vitstream.sparsity;

import java.util.Locale;

/**
 * How many tokens to keep and how to choose them, per inference call. The keep ratio is a live knob: any ratio in
 * (0, 1] runs; the learned predictors were trained for the range in the model's {@link SparsifierConfig}.
 *
 * @param keepRatio fraction of the patch tokens entering each selection stage that is kept (1.0 = dense)
 * @param method what ranks the tokens
 * @param packageToken fuse the dropped tokens of each stage into one extra token (EViT / SPViT) instead of discarding
 */
public record KeepPolicy(double keepRatio, Method method, boolean packageToken) {

    /** What ranks tokens for selection. */
    public enum Method {
        /** DynamicViT's learned prediction modules (needs a model trained with them). */
        LEARNED("learned"),
        /** Training-free baseline (EViT): the previous block's attention from the CLS token, averaged over heads. */
        CLS_ATTENTION("cls-attention");

        private final String id;

        Method(String id) {
            this.id = id;
        }

        public String id() {
            return id;
        }

        public static Method parse(String s) {
            for (Method m : values()) {
                if (m.id.equalsIgnoreCase(s) || m.name().equalsIgnoreCase(s)) {
                    return m;
                }
            }
            throw new IllegalArgumentException("unknown token selection method '" + s
                    + "' (expected learned or cls-attention)");
        }
    }

    public KeepPolicy {
        if (Double.isNaN(keepRatio) || keepRatio <= 0 || keepRatio > 1) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "keep ratio must be in (0, 1], got %s", keepRatio));
        }
        if (method == null) {
            throw new IllegalArgumentException("a keep policy needs a selection method");
        }
    }

    /**
     * What ranks tokens on a model with sparsifier {@code own} (null: none) when nothing else is asked for: its
     * learned predictors when it has them, else the training-free CLS-attention baseline, so the knob works on every
     * model.
     */
    public static Method defaultMethod(SparsifierConfig own) {
        return own != null && own.hasPredictors() ? Method.LEARNED : Method.CLS_ATTENTION;
    }

    public static KeepPolicy dense() {
        return new KeepPolicy(1.0, Method.LEARNED, false);
    }

    public static KeepPolicy learned(double keepRatio) {
        return new KeepPolicy(keepRatio, Method.LEARNED, false);
    }

    public boolean isDense() {
        return keepRatio >= 1.0;
    }
}
