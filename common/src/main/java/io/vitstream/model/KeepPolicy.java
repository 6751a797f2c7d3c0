package io.vitstream.model;

import java.util.Locale;

/**
 * How many tokens to keep and how to reduce them, per inference call. The keep ratio is a live knob: any ratio in
 * (0, 1] runs; the learned predictors were trained for the range in the model's {@link SparsifierConfig}. The
 * token-dropping methods keep {@code ratio x} the patch tokens at each sparsifier stage; the token-merging methods
 * ({@link Method#merges()}) read the ratio as a FLOPs budget instead: they merge as many tokens as make the FLOPs per
 * image closest to those of the token sparsifier at the same ratio ({@link io.vitstream.sparsity.MergeSchedule#forPolicy}), so a merging
 * row and a dropping row at one ratio compare at equal cost.
 *
 * @param keepRatio fraction of the patch tokens entering each selection stage that is kept (1.0 = dense)
 * @param method what ranks (or merges) the tokens
 * @param packageToken fuse the dropped tokens of each stage into one extra token (EViT / SPViT) instead of discarding
 *     them; only for the token-dropping methods (merging loses no token to fuse)
 */
public record KeepPolicy(double keepRatio, Method method, boolean packageToken) {

    /** What reduces tokens. */
    public enum Method {
        /** DynamicViT's learned prediction modules (needs a model trained with them). */
        LEARNED("learned", false),
        /** Training-free baseline (EViT): the previous block's attention from the CLS token, averaged over heads. */
        CLS_ATTENTION("cls-attention", false),
        /** Token merging (ToMe): bipartite soft matching in every block, training-free ({@link io.vitstream.sparsity.TokenMerging}). */
        TOME("tome", true),
        /**
         * Grid-preserving merging in the spirit of CAIT's HTM / VTM: adjacent column pairs, then row pairs, of the
         * patch grid merged by similarity, so the tokens stay a grid; training-free ({@link io.vitstream.sparsity.TokenMerging}).
         */
        GRID_MERGE("grid-merge", true);

        private final String id;
        private final boolean merges;

        Method(String id, boolean merges) {
            this.id = id;
            this.merges = merges;
        }

        public String id() {
            return id;
        }

        /** Whether this method merges tokens (inside blocks) rather than dropping them (before sparsifier stages). */
        public boolean merges() {
            return merges;
        }

        public static Method parse(String s) {
            for (Method m : values()) {
                if (m.id.equalsIgnoreCase(s) || m.name().equalsIgnoreCase(s)) {
                    return m;
                }
            }
            throw new IllegalArgumentException("unknown token reduction method '" + s
                    + "' (expected learned, cls-attention, tome or grid-merge)");
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
        if (packageToken && method.merges()) {
            throw new IllegalArgumentException("the package token is for the token-dropping methods (learned, "
                    + "cls-attention), not " + method.id() + ", which merges tokens instead of dropping them");
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

    /** Whether this policy merges tokens: a merging method below ratio 1.0. */
    public boolean merges() {
        return !isDense() && method.merges();
    }
}
