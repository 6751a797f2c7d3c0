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
         * CAP's structured OBS step ({@link CapPruner}): heads and MLP neurons scored by the output error of the
         * layer that consumes them, removed one at a time with the remaining columns corrected; the sliced model keeps
         * the corrected weights. Blocks and stem channels are not scored, so never removed.
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
