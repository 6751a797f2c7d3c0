package io.vitstream.controller;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.vitstream.controller.job.JobStatus;
import io.vitstream.controller.policy.PolicyState;
import io.vitstream.controller.rollout.RolloutPhase;
import io.vitstream.controller.stream.MetricsView.VersionStats;
import io.vitstream.kafka.ControlMessage;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The controller's meters (the names the dashboards use; Prometheus names in brackets):
 * {@code controller.keep.ratio} [controller_keep_ratio], {@code controller.slo} [controller_slo_seconds],
 * {@code controller.policy.state{state}} (1 for the current state), {@code controller.decisions{rule}}
 * [controller_decisions_total] (counted by the decision log), {@code controller.job.running},
 * {@code controller.job.progress}, {@code controller.job.duration{outcome}} [controller_job_duration_seconds_*],
 * {@code controller.version.accuracy|agreement{version}}, {@code controller.version.latency{version,quantile}}
 * [controller_version_latency_seconds], {@code controller.version.role{version,role}},
 * {@code controller.rollout.state{state}}, {@code controller.workers{version}}. Per-version rows are replaced at
 * every {@link #update}, so versions that left disappear.
 */
public final class ControllerMetrics implements MeterBinder {
    /** What the gauges read, supplied by the controller. */
    public interface Source {
        ControlMessage control();

        double sloSeconds();

        PolicyState policyState();

        JobStatus job();

        RolloutPhase rolloutPhase();
    }

    private final Source source;
    private MeterRegistry registry;
    private MultiGauge accuracy;
    private MultiGauge agreement;
    private MultiGauge latency;
    private MultiGauge role;
    private MultiGauge workers;

    public ControllerMetrics(Source source) {
        this.source = source;
    }

    @Override
    public void bindTo(MeterRegistry r) {
        this.registry = r;
        Gauge.builder("controller.keep.ratio", () -> {
            ControlMessage c = source.control();
            return c == null ? Double.NaN : c.keepRatio();
        }).description("Token keep ratio set on vit.control").register(r);
        Gauge.builder("controller.slo", source::sloSeconds).baseUnit("seconds")
                .description("p95 end-to-end latency objective").register(r);
        for (PolicyState s : PolicyState.values()) {
            gauge(r, "controller.policy.state", "state", s.id(), () -> source.policyState() == s,
                    "1 for the policy's current state");
        }
        for (RolloutPhase p : RolloutPhase.values()) {
            gauge(r, "controller.rollout.state", "state", p.id(), () -> source.rolloutPhase() == p,
                    "1 for the current (or last) rollout's state");
        }
        Gauge.builder("controller.job.running", () -> {
            JobStatus j = source.job();
            return j != null && j.running() ? 1 : 0;
        }).description("1 while a prune job runs").register(r);
        Gauge.builder("controller.job.progress", () -> {
            JobStatus j = source.job();
            return j == null ? 0 : j.progress();
        }).description("Share of the running (or last) prune job done").register(r);
        for (String outcome : List.of("succeeded", "failed")) {
            jobTimer(outcome);
        }
        accuracy = MultiGauge.builder("controller.version.accuracy")
                .description("Labelled accuracy per version over the policy window").register(r);
        agreement = MultiGauge.builder("controller.version.agreement")
                .description("Dense-teacher agreement per version over the policy window").register(r);
        latency = MultiGauge.builder("controller.version.latency").baseUnit("seconds")
                .description("End-to-end latency quantiles per version over the policy window").register(r);
        role = MultiGauge.builder("controller.version.role")
                .description("1 for the active and the canary version").register(r);
        workers = MultiGauge.builder("controller.workers")
                .description("Live workers reporting each loaded version").register(r);
    }

    private static void gauge(MeterRegistry r, String name, String tag, String value, Supplier<Boolean> current,
            String description) {
        Gauge.builder(name, () -> current.get() ? 1 : 0).tag(tag, value).description(description).register(r);
    }

    private Timer jobTimer(String outcome) {
        return Timer.builder("controller.job.duration").tag("outcome", outcome)
                .description("Wall time of prune jobs").register(registry);
    }

    /** Records a finished prune job. */
    public void jobFinished(String outcome, Duration duration) {
        jobTimer(outcome).record(duration);
    }

    /** Replaces the per-version rows. */
    public void update(Map<String, VersionStats> stats, ControlMessage control, Map<String, Integer> workersByVersion) {
        if (registry == null) {
            return;
        }
        List<MultiGauge.Row<?>> acc = new ArrayList<>();
        List<MultiGauge.Row<?>> agr = new ArrayList<>();
        List<MultiGauge.Row<?>> lat = new ArrayList<>();
        stats.forEach((v, s) -> {
            if (s.accuracy() != null) {
                acc.add(MultiGauge.Row.of(Tags.of("version", v), s.accuracy()));
            }
            if (s.agreement() != null) {
                agr.add(MultiGauge.Row.of(Tags.of("version", v), s.agreement()));
            }
            if (s.predictions() > 0) {
                lat.add(MultiGauge.Row.of(Tags.of("version", v, "quantile", "0.5"), s.p50Ms() / 1000));
                lat.add(MultiGauge.Row.of(Tags.of("version", v, "quantile", "0.95"), s.p95Ms() / 1000));
                lat.add(MultiGauge.Row.of(Tags.of("version", v, "quantile", "0.99"), s.p99Ms() / 1000));
            }
        });
        accuracy.register(acc, true);
        agreement.register(agr, true);
        latency.register(lat, true);
        List<MultiGauge.Row<?>> roles = new ArrayList<>();
        if (control != null) {
            roles.add(MultiGauge.Row.of(Tags.of("version", control.activeVersion(), "role", "active"), 1));
            if (control.canaryVersion() != null) {
                roles.add(MultiGauge.Row.of(Tags.of("version", control.canaryVersion(), "role", "canary"), 1));
            }
        }
        role.register(roles, true);
        List<MultiGauge.Row<?>> w = new ArrayList<>();
        workersByVersion.forEach((v, n) -> w.add(MultiGauge.Row.of(Tags.of("version", v), n)));
        workers.register(w, true);
    }
}
