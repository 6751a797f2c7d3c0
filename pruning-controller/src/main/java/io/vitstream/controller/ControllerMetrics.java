package io.vitstream.controller;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.vitstream.controller.job.JobStatus;
import io.vitstream.controller.policy.FleetLoad;
import io.vitstream.controller.policy.PolicyState;
import io.vitstream.controller.rollout.RolloutPhase;
import io.vitstream.controller.stream.MetricsView.VersionStats;
import io.vitstream.kafka.ControlMessage;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * The controller's meters (the names the dashboards use; Prometheus names in brackets):
 * {@code controller.keep.ratio} [controller_keep_ratio], {@code controller.slo} [controller_slo_seconds],
 * {@code controller.policy.state{state}} (1 for the current state), {@code controller.decisions{rule}}
 * [controller_decisions_total] (counted by the decision log), {@code controller.job.running},
 * {@code controller.job.progress}, {@code controller.job.duration{outcome}} [controller_job_duration_seconds_*],
 * {@code controller.version.accuracy|agreement{version}}, {@code controller.version.latency{version,quantile}}
 * [controller_version_latency_seconds], {@code controller.version.role{version,role}},
 * {@code controller.rollout.state{state}}, {@code controller.workers{version}}; the keep bounds on vit.control
 * {@code controller.keep.floor}, {@code controller.keep.ceiling} (both the fixed ratio in fixed mode); what the live
 * workers report of their load: {@code controller.arrival.rate} (images/s, summed), {@code controller.backlog},
 * {@code controller.at.floor.share}, {@code controller.capacity{version,keep_ratio}} (images/s, summed over the
 * workers serving the version), {@code controller.capacity.at.floor} (the active version's) and
 * {@code controller.workers.needed} (how many workers would meet the arrival at the floor: a scale-out hint). Unknown
 * figures read NaN. Per-version rows are replaced at every {@link #update}, so versions that left disappear.
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
    private MultiGauge capacity;
    private volatile FleetLoad load;

    public ControllerMetrics(Source source) {
        this.source = source;
    }

    @Override
    public void bindTo(MeterRegistry r) {
        this.registry = r;
        Gauge.builder("controller.keep.ratio", () -> {
            ControlMessage c = source.control();
            return c == null ? Double.NaN : c.keepRatio();
        }).description("Token keep ratio set on vit.control (adaptive mode: the workers' starting ratio)").register(r);
        Gauge.builder("controller.keep.floor", () -> {
            ControlMessage c = source.control();
            return c == null ? Double.NaN : c.floor();
        }).description("Lowest keep ratio the workers may choose (the fixed ratio in fixed mode)").register(r);
        Gauge.builder("controller.keep.ceiling", () -> {
            ControlMessage c = source.control();
            return c == null ? Double.NaN : c.ceiling();
        }).description("Highest keep ratio the workers may choose (the fixed ratio in fixed mode)").register(r);
        loadGauge(r, "controller.arrival.rate", FleetLoad::arrivalPerS, "Images per second arriving, summed over"
                + " the live workers' reports");
        loadGauge(r, "controller.backlog", l -> l.backlog(), "Records waiting, summed over the live workers");
        loadGauge(r, "controller.at.floor.share", l -> l.atFloorShare() == null ? Double.NaN : l.atFloorShare(),
                "Share of the workers' recent batches served at the keep floor");
        loadGauge(r, "controller.capacity.at.floor", l -> l.capacityAtFloorPerS() == null ? Double.NaN
                : l.capacityAtFloorPerS(), "Images per second the live workers serve the active version at the floor");
        loadGauge(r, "controller.workers.needed", l -> l.workersNeeded() == null ? Double.NaN : l.workersNeeded(),
                "Workers that would meet the arrival rate at the keep floor (a scale-out hint)");
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
        capacity = MultiGauge.builder("controller.capacity")
                .description("Images per second the live workers serve each version at each keep ratio").register(r);
    }

    private void loadGauge(MeterRegistry r, String name, ToDoubleFunction<FleetLoad> f, String description) {
        Gauge.builder(name, () -> {
            FleetLoad l = load;
            return l == null ? Double.NaN : f.applyAsDouble(l);
        }).description(description).register(r);
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

    /** Replaces the per-version rows and the load figures ({@code load} null: unknown). */
    public void update(Map<String, VersionStats> stats, ControlMessage control, Map<String, Integer> workersByVersion,
            FleetLoad load) {
        this.load = load;
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
        List<MultiGauge.Row<?>> cap = new ArrayList<>();
        if (load != null) {
            load.capacityPerS().forEach((v, byKeep) -> byKeep.forEach((k, x) -> cap.add(
                    MultiGauge.Row.of(Tags.of("version", v, "keep_ratio", k), x))));
        }
        capacity.register(cap, true);
    }
}
