package io.vitstream.controller.admin;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.vitstream.controller.job.JobStatus;
import io.vitstream.controller.policy.FleetLoad;
import io.vitstream.controller.rollout.RolloutState;
import io.vitstream.controller.stream.MetricsView.VersionStats;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.WorkerStatus;
import java.util.List;
import java.util.Map;

/** What the admin API returns (JSON snake_case through the project's one mapper). */
public final class Views {
    private Views() {}

    /**
     * {@code GET /status}.
     *
     * @param keepRatio on vit.control: the fixed ratio, or in adaptive mode the workers' starting ratio
     * @param keepFloor the bounds on vit.control in adaptive mode (null in fixed mode)
     * @param keepMode the policy's keep mode ({@code adaptive}, {@code fixed})
     * @param load the live workers' arrival, backlog, capacity per version and keep ratio, and how many workers would
     *     meet the arrival at the floor
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Status(String time, String activeVersion, String canaryVersion, Double canaryShare, Double keepRatio,
            Double keepFloor, Double keepCeiling, String keepMode, String policyState, boolean policyEnabled,
            double sloMs, double windowS, Map<String, Figures> versions, List<Worker> workers, FleetLoad load,
            JobStatus job, RolloutState rollout, String metricsProblem) {}

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

    /** A worker's latest heartbeat; {@code load} is what its fast loop measures (null before it has served). */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Worker(String worker, boolean live, String health, String modelVersion, String canaryVersion,
            double keepRatio, double heartbeatAgeS, String lastError, WorkerStatus.Load load) {}

    /** {@code GET /versions}: a published version and what happened to it. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Version(String version, String parentVersion, String role, long flopsPerImage, long parameters,
            Double testAccuracy, Double validationAccuracy, String createdAt, String publishedAt, boolean signed,
            int workers, String status, String statusReason, String statusTime) {}

    /** The desired state after a mutation; the bounds and SLO in adaptive mode. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Control(String activeVersion, double keepRatio, String canaryVersion, Double canaryShare,
            Double keepFloor, Double keepCeiling, Double sloMs) {
        public static Control of(ControlMessage c) {
            return new Control(c.activeVersion(), c.keepRatio(), c.canaryVersion(), c.canaryShare(), c.keepFloor(),
                    c.keepCeiling(), c.sloMs());
        }
    }

    /** Durable note of what happened to a version ({@code version/<v>} in the controller's state topic). */
    public record VersionNote(String version, String status, String reason, String time) {}
}
