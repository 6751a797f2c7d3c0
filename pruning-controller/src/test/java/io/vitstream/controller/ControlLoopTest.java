package io.vitstream.controller;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vitstream.controller.job.JobStatus;
import io.vitstream.controller.policy.Action;
import io.vitstream.controller.policy.Decision;
import io.vitstream.controller.policy.DecisionLog;
import io.vitstream.controller.policy.PolicyState;
import io.vitstream.controller.rollout.Rollout;
import io.vitstream.controller.rollout.RolloutPhase;
import io.vitstream.controller.stream.MetricsView.VersionStats;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.WorkerStatus;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The slow loop over fakes: one evaluation per window whatever the tick, what vit.control, the metrics and the
 * heartbeats say going into the rules, the decision carried out, the load kept for the status and the gauges.
 */
class ControlLoopTest {
    @TempDir
    Path tmp;

    private final Fakes.Cluster cluster = new Fakes.Cluster().publish("v1", null);
    private final Fakes.Plane plane = new Fakes.Plane(cluster);
    private final Fakes.State state = new Fakes.State();
    private final Fakes.Metrics metrics = new Fakes.Metrics();
    private final Fakes.MutableClock clock = new Fakes.MutableClock();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final DecisionLog decisions = new DecisionLog(100, registry);
    private final List<String> pruned = new ArrayList<>();

    private ControlLoop loop(Map<String, String> settings) {
        PolicyStore policy = PolicyStore.restore(Map.of(), Fakes.config(tmp, settings), state);
        PolicyActuator actuator = new PolicyActuator(plane, (parent, ratio, reason) -> {
            pruned.add(parent + "@" + ratio);
            return null;
        }, decisions, new VersionNotes(state, clock), clock);
        Rollout rollout = new Rollout(plane, metrics, decisions, policy::settings, clock, s -> { });
        ControllerMetrics meters = new ControllerMetrics(new ControllerMetrics.Source() {
            @Override
            public ControlMessage control() {
                return cluster.control();
            }

            @Override
            public double sloSeconds() {
                return policy.settings().sloMs() / 1000;
            }

            @Override
            public PolicyState policyState() {
                return PolicyState.NO_DATA;
            }

            @Override
            public JobStatus job() {
                return null;
            }

            @Override
            public RolloutPhase rolloutPhase() {
                return RolloutPhase.IDLE;
            }
        });
        meters.bindTo(registry);
        return new ControlLoop(cluster, plane, new MetricsReader(metrics, clock), policy, actuator, rollout,
                () -> false, meters, clock);
    }

    private static VersionStats stats(double p95) {
        return new VersionStats("v1", 500, p95 / 2, p95, p95, 0, 0, 0, 0);
    }

    @Test
    void reprunesOnceTheWorkersSatAtTheFloorOverTheSloForBreachWindows() {
        cluster.control = ControlMessage.active("v1", 1.0).withBounds(0.5, 1.0, 250);
        plane.live.put("w1", Fakes.worker("w1", "v1", 0.5, new WorkerStatus.Load(120, 300, 2000, 0.5, 1.0,
                Map.of("0.50", 80.0, "1.00", 40.0), 0.85)));
        metrics.recent = Map.of("v1", stats(900));
        ControlLoop loop = loop(Map.of());

        for (int window = 1; window <= 3; window++) {
            loop.tick();
            clock.advance(Duration.ofSeconds(1));
            loop.tick(); // within the window: no second evaluation
            assertThat(pruned).as("after window %d", window).hasSize(window < 3 ? 0 : 1);
            clock.advance(Duration.ofSeconds(9));
        }
        assertThat(pruned).containsExactly("v1@0.6"); // 0.9 x 80 / 120
        Decision d = decisions.history().get(0);
        assertThat(d.action()).isEqualTo(Action.START_PRUNE);
        assertThat(d.reason()).contains("for 3 windows with the workers at the keep floor 0.50 in 85%");
        assertThat(loop.state()).isEqualTo(PolicyState.PRUNING);
        assertThat(state.records).containsKey("memory");
        assertThat(loop.load().arrivalPerS()).isEqualTo(120.0);
        assertThat(loop.load().workersNeeded()).isEqualTo(2);
        assertThat(registry.get("controller.arrival.rate").gauge().value()).isEqualTo(120.0);
        assertThat(registry.get("controller.workers.needed").gauge().value()).isEqualTo(2.0);
        assertThat(registry.get("controller.capacity").tags("version", "v1", "keep_ratio", "0.50").gauge().value())
                .isEqualTo(80.0);
        assertThat(plane.writes).as("re-pruning writes nothing on vit.control").isEmpty();
    }

    @Test
    void withoutLoadReportsTheShareAtTheFloorComesFromThePredictionsKeepRatios() {
        cluster.control = ControlMessage.active("v1", 1.0).withBounds(0.5, 1.0, 250);
        plane.live.put("w1", Fakes.worker("w1", "v1", 0.5, null));
        metrics.recent = Map.of("v1", stats(400));
        metrics.byKeep = Map.of("v1", Map.of(0.5, stats(400), 0.9, new VersionStats("v1", 50, 1, 1, 1, 0, 0, 0, 0)));
        ControlLoop loop = loop(Map.of("policy.breach.windows", "1"));
        loop.tick();
        assertThat(pruned).containsExactly("v1@0.5625"); // 0.9 x 250 / 400: no capacity reported
        assertThat(decisions.history().get(0).reason()).contains("in 91% of their batches (predictions)");
    }

    @Test
    void fixedModeStepsTheRatioAndStaleOrMissingFiguresDecideNothing() {
        cluster.control = ControlMessage.active("v1", 1.0);
        metrics.recent = Map.of("v1", stats(900));
        ControlLoop loop = loop(Map.of("policy.breach.windows", "1", "policy.keep.mode", "fixed"));
        loop.tick();
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 0.9));
        assertThat(decisions.history()).extracting(Decision::action).containsExactly(Action.LOWER_KEEP_RATIO);

        // The newest prediction is older than a window: traffic stopped, the last window is not judged again.
        metrics.latest = clock.instant().minusSeconds(60);
        clock.advance(Duration.ofSeconds(40));
        loop.tick();
        assertThat(loop.state()).isEqualTo(PolicyState.NO_DATA);
        assertThat(decisions.history()).hasSize(1);

        cluster.control = null;
        clock.advance(Duration.ofSeconds(10));
        loop.tick();
        assertThat(loop.state()).isEqualTo(PolicyState.NO_DATA);
        assertThat(loop.load()).isNull();
    }

    @Test
    void aDecisionThatCannotBeWrittenIsTriedAgainNextWindow() {
        cluster.control = ControlMessage.active("v1", 1.0);
        metrics.recent = Map.of("v1", stats(900));
        ControlLoop loop = loop(Map.of("policy.breach.windows", "1", "policy.keep.mode", "fixed"));
        plane.failure = new IllegalStateException("broker away");
        loop.tick(); // logged, not thrown: the loop goes on
        assertThat(decisions.history()).isEmpty();
        plane.failure = null;
        clock.advance(Duration.ofSeconds(10));
        loop.tick();
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 0.9));
    }
}
