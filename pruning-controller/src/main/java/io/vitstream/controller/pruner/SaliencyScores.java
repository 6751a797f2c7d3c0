package io.vitstream.controller.pruner;

import java.util.List;

/**
 * Saliency of every group by the three measures, aligned with {@code groups}.
 *
 * @param samples calibration images the scores were estimated from
 */
public record SaliencyScores(List<Group> groups, double[] taylor, double[] fisher, double[] obd, int samples) {
    public SaliencyScores {
        groups = List.copyOf(groups);
        if (taylor.length != groups.size() || fisher.length != groups.size() || obd.length != groups.size()) {
            throw new IllegalArgumentException("one score per group and measure");
        }
    }

    public double[] of(Saliency.Method method) {
        return switch (method) {
            case TAYLOR -> taylor;
            case FISHER -> fisher;
            case OBD -> obd;
        };
    }
}
