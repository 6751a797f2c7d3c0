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
        CAP;

        public static Method parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown saliency '" + s + "' (taylor, fisher, obd, hessian or cap)");
            }
        }

        public String id() {
            return name().toLowerCase(Locale.ROOT);
        }
    }
}
