package io.vitstream.controller;

import io.vitstream.controller.policy.FleetLoad;
import io.vitstream.controller.policy.Observation;
import io.vitstream.controller.policy.Policy;
import io.vitstream.controller.policy.PolicySettings;
import io.vitstream.controller.policy.PolicyState;
import io.vitstream.controller.rollout.ControlPlane;
import io.vitstream.controller.rollout.Rollout;
import io.vitstream.controller.state.ClusterView;
import io.vitstream.controller.stream.MetricsView.VersionStats;
import io.vitstream.kafka.ControlMessage;
import java.time.Clock;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The controller's slow loop, one {@link #tick} at a time on the loop thread: the rollout steps every tick, the
 * policy evaluates once per window (what vit.control, the metrics and the workers' heartbeats say, into
 * {@link Policy#decide}, out through the {@link PolicyActuator}), the gauges refresh every few seconds.
 */
final class ControlLoop {
    private static final Logger log = LoggerFactory.getLogger(ControlLoop.class);
    static final long METERS_EVERY_MS = 2000;

    private final ClusterView cluster;
    private final ControlPlane plane;
    private final MetricsReader metrics;
    private final PolicyStore policy;
    private final PolicyActuator actuator;
    private final Rollout rollout;
    private final BooleanSupplier jobRunning;
    private final ControllerMetrics meters;
    private final Clock clock;
    private volatile PolicyState state;
    private volatile FleetLoad load;
    // Loop thread only.
    private long nextPolicyMs;
    private long nextMetersMs;

    ControlLoop(ClusterView cluster, ControlPlane plane, MetricsReader metrics, PolicyStore policy,
            PolicyActuator actuator, Rollout rollout, BooleanSupplier jobRunning, ControllerMetrics meters,
            Clock clock) {
        this.cluster = cluster;
        this.plane = plane;
        this.metrics = metrics;
        this.policy = policy;
        this.actuator = actuator;
        this.rollout = rollout;
        this.jobRunning = jobRunning;
        this.meters = meters;
        this.clock = clock;
        this.state = policy.settings().enabled() ? PolicyState.NO_DATA : PolicyState.PAUSED;
        this.nextPolicyMs = clock.millis(); // the first evaluation right away: the stores hold the last window already
    }

    /** Where the policy stood after its last evaluation. */
    PolicyState state() {
        return state;
    }

    /** The fleet's load as last read (null before the first read, or while nothing is active). */
    FleetLoad load() {
        return load;
    }

    void tick() {
        try {
            rollout.step();
            long now = clock.millis();
            if (now >= nextPolicyMs) {
                nextPolicyMs = now + (long) (policy.settings().windowS() * 1000);
                evaluate();
            }
            if (now >= nextMetersMs) {
                nextMetersMs = now + METERS_EVERY_MS;
                PolicySettings s = policy.settings();
                load = readLoad(cluster.control(), s);
                meters.update(metrics.recent(s.windowS()), cluster.control(), plane.workersByVersion(), load);
            }
        } catch (RuntimeException e) {
            log.warn("controller loop: {}", e.toString(), e);
        }
    }

    /** One evaluation of the rules; a decision that cannot be carried out leaves the memory as it was. */
    void evaluate() {
        ControlMessage c = cluster.control();
        if (c == null) {
            state = PolicyState.NO_DATA;
            return;
        }
        PolicySettings s = policy.settings();
        FleetLoad l = readLoad(c, s);
        load = l;
        VersionStats active = metrics.fresh(s.windowS()) ? metrics.recent(s.windowS()).get(c.activeVersion()) : null;
        Observation o = new Observation(c.activeVersion(), cluster.publishedParent(c.activeVersion()), c.keepRatio(),
                active, jobRunning.getAsBoolean(), rollout.inProgress(), c.adaptive() ? c.keepFloor() : null,
                c.adaptive() ? c.keepCeiling() : null, l);
        Policy.Outcome out = Policy.decide(s, o, policy.memory(), clock.instant());
        state = out.state();
        if (out.decision() != null) {
            actuator.act(out.decision(), c); // throws: the memory stays as it was, so the rule tries again next window
        }
        policy.remember(out.memory());
    }

    /**
     * The policy changed: a new window length takes effect by the next evaluation, and enabling or pausing is judged
     * at once.
     */
    void policyChanged(PolicySettings before, PolicySettings after) {
        nextPolicyMs = after.enabled() != before.enabled() ? clock.millis()
                : Math.min(nextPolicyMs, clock.millis() + (long) (after.windowS() * 1000));
    }

    private FleetLoad readLoad(ControlMessage c, PolicySettings s) {
        if (c == null) {
            return null;
        }
        FleetLoad l = FleetLoad.of(plane.liveWorkers().values(), c.activeVersion(), c.floor());
        if (l.atFloorShare() == null && c.adaptive()) {
            Map<Double, VersionStats> byKeep = metrics.recentByKeepRatio(s.windowS()).get(c.activeVersion());
            l = l.withPredictionsAtFloor(byKeep);
        }
        return l;
    }
}
