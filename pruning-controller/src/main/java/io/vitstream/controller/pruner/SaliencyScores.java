package io.vitstream.controller.pruner;

import java.util.List;
import java.util.Map;

/**
 * Saliency of every group by each measure, aligned with {@code groups}. Taylor, Fisher and OBD come from one pass and
 * are always there; the Hessian diagonal and CAP cost more passes and are there only when asked for.
 *
 * @param hessian OBD with the Hutchinson Hessian diagonal, or null when not estimated
 * @param cap CAP's scores and what its correction needs, or null when not estimated
 * @param masks the mask searches run ({@code vit-slim}, {@code x-pruner}), by method; empty when none
 * @param samples calibration images the scores were estimated from
 */
public record SaliencyScores(List<Group> groups, double[] taylor, double[] fisher, double[] obd, Hessian hessian,
        Cap cap, Map<Saliency.Method, MaskSearch.Result> masks, int samples) {
    public SaliencyScores {
        groups = List.copyOf(groups);
        masks = masks == null ? Map.of() : Map.copyOf(masks);
        for (MaskSearch.Result r : masks.values()) {
            if (r.scores().length != groups.size()) {
                throw new IllegalArgumentException("one score per group and measure");
            }
        }
        if (taylor.length != groups.size() || fisher.length != groups.size() || obd.length != groups.size()
                || hessian != null && hessian.scores().length != groups.size()
                || cap != null && cap.scores().length != groups.size()) {
            throw new IllegalArgumentException("one score per group and measure");
        }
    }

    /** The three one-pass measures only. */
    public SaliencyScores(List<Group> groups, double[] taylor, double[] fisher, double[] obd, int samples) {
        this(groups, taylor, fisher, obd, null, null, Map.of(), samples);
    }

    /**
     * @param probes Rademacher probes averaged
     * @param step the finite-difference step of each Hessian-vector product
     */
    public record Hessian(double[] scores, int probes, double step) {}

    /**
     * @param inputs the parent's layer-input Hessians, which the correction after planning needs again
     * @param damping lambda as a share of the mean diagonal, used for the scores and to be used for the correction
     */
    public record Cap(double[] scores, LayerInputHessians inputs, double damping) {}

    public SaliencyScores withHessian(Hessian h) {
        return new SaliencyScores(groups, taylor, fisher, obd, h, cap, masks, samples);
    }

    public SaliencyScores withCap(Cap c) {
        return new SaliencyScores(groups, taylor, fisher, obd, hessian, c, masks, samples);
    }

    public SaliencyScores withMasks(MaskSearch.Result r) {
        Map<Saliency.Method, MaskSearch.Result> m = new java.util.EnumMap<>(Saliency.Method.class);
        m.putAll(masks);
        m.put(r.method(), r);
        return new SaliencyScores(groups, taylor, fisher, obd, hessian, cap, m, samples);
    }

    /** Closes the mask searches' models (ViT-Slim's search-trained copy). */
    public void closeMasks() {
        masks.values().forEach(MaskSearch.Result::close);
    }

    /** Whether {@link #of} can answer for {@code method}. */
    public boolean has(Saliency.Method method) {
        return switch (method) {
            case TAYLOR, FISHER, OBD -> true;
            case HESSIAN -> hessian != null;
            case CAP -> cap != null;
            case VIT_SLIM, X_PRUNER -> masks.containsKey(method);
        };
    }

    public double[] of(Saliency.Method method) {
        if (!has(method)) {
            throw new IllegalStateException(method.id() + " saliency was not estimated for these scores");
        }
        return switch (method) {
            case TAYLOR -> taylor;
            case FISHER -> fisher;
            case OBD -> obd;
            case HESSIAN -> hessian.scores();
            case CAP -> cap.scores();
            case VIT_SLIM, X_PRUNER -> masks.get(method).scores();
        };
    }
}
