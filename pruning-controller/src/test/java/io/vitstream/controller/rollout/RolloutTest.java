package io.vitstream.controller.rollout;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vitstream.controller.policy.Action;
import io.vitstream.controller.policy.Decision;
import io.vitstream.controller.policy.DecisionLog;
import io.vitstream.controller.policy.PolicySettings;
import io.vitstream.controller.stream.MetricsView;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.WorkerStatus;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** Rule 5 in adaptive mode: the canary, its promotion and its rollback all keep the bounds and SLO on vit.control. */
class RolloutTest {
    private static final Instant T0 = Instant.parse("2026-11-28T10:00:00Z");

    private ControlMessage control = ControlMessage.active("v1", 1.0).withBounds(0.6, 1.0, 200);
    private final Map<String, WorkerStatus> live = new TreeMap<>();
    private final Map<String, MetricsView.LabelledCount> labelled = new TreeMap<>();

    private final ControlPlane plane = new ControlPlane() {
        @Override
        public ControlMessage control() {
            return control;
        }

        @Override
        public void setControl(ControlMessage next) {
            control = next;
        }

        @Override
        public Map<String, WorkerStatus> liveWorkers() {
            return Map.copyOf(live);
        }
    };

    private final MetricsView metrics = new MetricsView() {
        @Override
        public Map<String, VersionStats> recent(Duration window) {
            return Map.of();
        }

        @Override
        public LabelledCount labelledSince(String version, Instant since) {
            return labelled.getOrDefault(version, new LabelledCount(0, 0));
        }
    };

    private final List<Decision> seen = new ArrayList<>();

    private Rollout rollout() {
        DecisionLog log = new DecisionLog(100, new SimpleMeterRegistry());
        log.addListener(seen::add);
        return new Rollout(plane, metrics, log, PolicySettings::defaults, Clock.fixed(T0, ZoneOffset.UTC), s -> { });
    }

    private void loaded(String canary) {
        live.put("w1", new WorkerStatus(WorkerStatus.SCHEMA, "w1", "serving", "v1", canary, "v1", 0.8, List.of(),
                null, 0, T0.toString(), null));
    }

    @Test
    void aPromotedCanaryKeepsTheBounds() {
        Rollout r = rollout();
        r.begin("v2", "job-1");
        assertThat(control).isEqualTo(ControlMessage.active("v1", 1.0).withBounds(0.6, 1.0, 200).withCanary("v2", 0.25));
        loaded("v2");
        r.step();
        labelled.put("v2", new MetricsView.LabelledCount(200, 170));
        labelled.put("v1", new MetricsView.LabelledCount(600, 516));
        r.step();
        assertThat(r.state().phase()).isEqualTo(RolloutPhase.PROMOTED);
        assertThat(control).isEqualTo(ControlMessage.active("v2", 1.0).withBounds(0.6, 1.0, 200));
        assertThat(seen).extracting(Decision::action).containsExactly(Action.START_CANARY, Action.PROMOTE_CANARY);
    }

    @Test
    void aRolledBackCanaryLeavesTheActiveVersionWithItsBounds() {
        Rollout r = rollout();
        r.begin("v2", "job-1");
        loaded("v2");
        r.step();
        labelled.put("v2", new MetricsView.LabelledCount(250, 25));
        labelled.put("v1", new MetricsView.LabelledCount(600, 516));
        r.step();
        assertThat(r.state().phase()).isEqualTo(RolloutPhase.ROLLED_BACK);
        assertThat(control).isEqualTo(ControlMessage.active("v1", 1.0).withBounds(0.6, 1.0, 200));
    }
}
