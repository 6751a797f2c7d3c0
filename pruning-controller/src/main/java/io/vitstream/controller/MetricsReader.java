package io.vitstream.controller;

import io.vitstream.controller.stream.MetricsRuntime;
import io.vitstream.controller.stream.MetricsView;
import io.vitstream.controller.stream.MetricsView.VersionStats;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;

/**
 * The controller's reads of the metrics topology over a policy window, with what went wrong kept for
 * {@code /status} and {@code /health}: while the topology starts or rebalances there are no figures, not an error.
 */
final class MetricsReader {
    private final MetricsRuntime runtime;
    private final Clock clock;
    private volatile String problem;

    MetricsReader(MetricsRuntime runtime, Clock clock) {
        this.runtime = runtime;
        this.clock = clock;
    }

    MetricsView view() {
        return runtime.view();
    }

    /** Figures per version over the last {@code windowS} seconds; empty while they cannot be read. */
    Map<String, VersionStats> recent(double windowS) {
        try {
            Map<String, VersionStats> m = runtime.view().recent(window(windowS));
            problem = runtime.problem();
            return m;
        } catch (RuntimeException e) {
            problem = "metrics unavailable: " + e.getMessage();
            return Map.of();
        }
    }

    /** As {@link #recent}, per version and keep ratio. */
    Map<String, Map<Double, VersionStats>> recentByKeepRatio(double windowS) {
        try {
            return runtime.view().recentByKeepRatio(window(windowS));
        } catch (RuntimeException e) {
            problem = "metrics unavailable: " + e.getMessage();
            return Map.of();
        }
    }

    /**
     * Whether the metrics are current: the windows end at the newest prediction counted, so when traffic stops the
     * last window would otherwise be judged again and again.
     */
    boolean fresh(double windowS) {
        Instant latest = runtime.latest();
        return latest == null || clock.millis() - latest.toEpochMilli() <= windowS * 1000;
    }

    /** Why the latest read had no figures, or null. */
    String problem() {
        return problem;
    }

    /** The topology died and will not come back by itself. */
    boolean failed() {
        return runtime.failed();
    }

    private static Duration window(double windowS) {
        return Duration.ofMillis((long) (windowS * 1000));
    }
}
