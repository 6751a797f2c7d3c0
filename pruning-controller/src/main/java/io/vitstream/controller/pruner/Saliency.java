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
        OBD;

        public static Method parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown saliency '" + s + "' (taylor, fisher or obd)");
            }
        }

        public String id() {
            return name().toLowerCase(Locale.ROOT);
        }
    }
}
