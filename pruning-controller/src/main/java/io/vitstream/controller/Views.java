package io.vitstream.controller;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.vitstream.controller.job.JobStatus;
import io.vitstream.controller.rollout.RolloutState;
import io.vitstream.controller.stream.MetricsView.VersionStats;
import io.vitstream.kafka.ControlMessage;
import java.util.List;
import java.util.Map;

/** What the admin API returns (JSON snake_case through the project's one mapper). */
public final class Views {
    private Views() {}

    /** {@code GET /status}. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Status(String time, String activeVersion, String canaryVersion, Double canaryShare, Double keepRatio,
            String policyState, boolean policyEnabled, double sloMs, double windowS, Map<String, Figures> versions,
            List<Worker> workers, JobStatus job, RolloutState rollout, String metricsProblem) {}

    /** A version's figures over the last policy window; latencies in milliseconds, null when unknown. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Figures(long predictions, Double p50Ms, Double p95Ms, Double p99Ms, long labelled, Double accuracy,
            long teacherSampled, Double agreement) {
        public static Figures of(VersionStats s) {
            return new Figures(s.predictions(), finite(s.p50Ms()), finite(s.p95Ms()), finite(s.p99Ms()), s.labelled(),
                    s.accuracy(), s.teacherSampled(), s.agreement());
        }

        private static Double finite(double v) {
            return Double.isFinite(v) ? v : null;
        }
    }

    /** A worker's latest heartbeat. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Worker(String worker, boolean live, String health, String modelVersion, String canaryVersion,
            double keepRatio, double heartbeatAgeS, String lastError) {}

    /** {@code GET /versions}: a published version and what happened to it. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Version(String version, String parentVersion, String role, long flopsPerImage, long parameters,
            Double testAccuracy, Double validationAccuracy, String createdAt, String publishedAt, boolean signed,
            int workers, String status, String statusReason, String statusTime) {}

    /** The desired state after a mutation. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Control(String activeVersion, double keepRatio, String canaryVersion, Double canaryShare) {
        public static Control of(ControlMessage c) {
            return new Control(c.activeVersion(), c.keepRatio(), c.canaryVersion(), c.canaryShare());
        }
    }

    /** Durable note of what happened to a version ({@code version/<v>} in the controller's state topic). */
    public record VersionNote(String version, String status, String reason, String time) {}
}
