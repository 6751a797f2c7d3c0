package io.vitstream.controller.stream;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;

/**
 * Read side of the metrics topology's state stores: what the policy loop and the admin REST see.
 * Implementations read Kafka Streams interactive queries; tests may build it from a TopologyTestDriver.
 */
public interface MetricsView {
    /** Figures per model version over the most recent {@code window} of event time (versions with no data absent). */
    Map<String, VersionStats> recent(Duration window);

    /** Labelled predictions of {@code version} with timestamps at or after {@code since}, and how many were right. */
    LabelledCount labelledSince(String version, Instant since);

    /**
     * As {@link #recent(Duration)}, per model version and then per keep ratio (ascending), not merged over ratios.
     * The default has no per-ratio figures (an empty map); the Kafka Streams view overrides it.
     */
    default Map<String, Map<Double, VersionStats>> recentByKeepRatio(Duration window) {
        return Map.of();
    }

    record LabelledCount(long labelled, long correct) {
        public Double accuracy() {
            return labelled == 0 ? null : (double) correct / labelled;
        }
    }

    /**
     * @param predictions predictions of this version in the window
     * @param p50Ms end-to-end latency quantiles in milliseconds (NaN when no predictions)
     * @param labelled predictions with a label (header or joined from vit.labels)
     * @param correct of those, how many were right
     * @param teacherSampled predictions also scored by the dense teacher
     * @param teacherAgreed of those, how many agreed with it
     */
    record VersionStats(String version, long predictions, double p50Ms, double p95Ms, double p99Ms, long labelled,
            long correct, long teacherSampled, long teacherAgreed) {
        public Double accuracy() {
            return labelled == 0 ? null : (double) correct / labelled;
        }

        public Double agreement() {
            return teacherSampled == 0 ? null : (double) teacherAgreed / teacherSampled;
        }
    }
}
