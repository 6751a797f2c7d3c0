package io.vitstream.controller.pruner;

import java.util.Locale;

/** Saliency measures for structured groups (heads, MLP neurons, blocks). */
public final class Saliency {
    private Saliency() {}

    public enum Method {
        /** First-order Taylor: |sum over the group of w * dL/dw|. */
        TAYLOR,
        /** Empirical Fisher of a gate per group: mean over samples of (dL/dgate)^2. */
        FISHER,
        /** OBD with the Fisher approximation of the Hessian diagonal: 1/2 sum over the group of E[g^2] w^2. */
        OBD,
        /**
         * OBD with the exact Hessian diagonal, estimated by Hutchinson probes whose Hessian-vector products are
         * central differences of gradients ({@link HessianDiagonal}): 1/2 sum over the group of H_ii w^2.
         */
        HESSIAN,
        /**
         * CAP's structured OBS step ({@link CapPruner}): within each layer, heads and MLP neurons go in the order of
         * the output error they add to the layer that consumes them, one at a time with the remaining columns
         * corrected, and the sliced model keeps the corrected weights; how many each layer loses (and which blocks
         * and stem channels go) follows OBD's global ranking ({@link PrunePlanner#capKeys}).
         */
        CAP,
        /**
         * ViT-Slim's search ({@link MaskSearch}): continuous masks on q/k/v per (head, head dimension) and on MLP
         * hidden units, trained jointly with the weights under distillation and an L1 penalty; a head scores the
         * mean |mask| over its dimensions, a neuron its |mask|; one threshold per mask type meets the budget
         * ({@link PrunePlanner}). The search-trained weights are the ones sliced.
         */
        VIT_SLIM,
        /**
         * X-Pruner's explainability-aware masks ({@link MaskSearch}): a mask per class on every head and neuron,
         * learned on the frozen parent with the mask of the input's label; a unit scores the sum over classes of
         * |mask|; one threshold per unit kind meets the budget.
         */
        X_PRUNER;

        public static Method parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT).replace('-', '_'));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown saliency '" + s
                        + "' (taylor, fisher, obd, hessian, cap, vit-slim or x-pruner)");
            }
        }

        public String id() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }

        /** Whether the scores come from masks trained for the purpose ({@link MaskSearch}) rather than estimated. */
        public boolean searchesMasks() {
            return this == VIT_SLIM || this == X_PRUNER;
        }
    }
}
