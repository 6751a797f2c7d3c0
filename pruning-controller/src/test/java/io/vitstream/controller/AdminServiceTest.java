package io.vitstream.controller;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vitstream.controller.admin.Views;
import io.vitstream.controller.error.ControllerException;
import io.vitstream.controller.policy.Action;
import io.vitstream.controller.policy.Decision;
import io.vitstream.controller.policy.DecisionLog;
import io.vitstream.controller.policy.KeepMode;
import io.vitstream.controller.policy.PolicySettings;
import io.vitstream.controller.rollout.Rollout;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.WorkerStatus;
import io.vitstream.util.Json;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The admin operations over fakes, on a real loop thread: pinning a ratio switches to fixed mode, bounds switch back
 * (validated, nothing changed when refused), a policy change brings vit.control in line when the policy is enabled,
 * and every mutation is audited once.
 */
class AdminServiceTest {
    @TempDir
    Path tmp;

    private final Fakes.Cluster cluster = new Fakes.Cluster().publish("v0", null).publish("v1", "v0");
    private final Fakes.Plane plane = new Fakes.Plane(cluster);
    private final Fakes.State state = new Fakes.State();
    private final Fakes.Metrics metrics = new Fakes.Metrics();
    private final Fakes.MutableClock clock = new Fakes.MutableClock();
    private final DecisionLog decisions = new DecisionLog(100, new SimpleMeterRegistry());
    private final LoopThread loop = new LoopThread("test-loop", Duration.ofSeconds(10));
    private PolicyStore policy;

    @AfterEach
    void stop() {
        loop.close();
    }

    private AdminService service(Map<String, String> settings) {
        policy = PolicyStore.restore(Map.of(), Fakes.config(tmp, settings), state);
        VersionNotes notes = new VersionNotes(state, clock);
        PolicyActuator actuator = new PolicyActuator(plane, (p, r, why) -> null, decisions, notes, clock);
        Rollout rollout = new Rollout(plane, metrics, decisions, policy::settings, clock, notes::rollout);
        MetricsReader reader = new MetricsReader(metrics, clock);
        ControlLoop control = new ControlLoop(cluster, plane, reader, policy, actuator, rollout, () -> false,
                new ControllerMetrics(null), clock);
        return new AdminService(loop, cluster, plane, policy, control, actuator, rollout, (p, r, why) -> {
            throw ControllerException.conflict("no jobs here");
        }, () -> null, notes, decisions, reader, 15_000, clock);
    }

    private Decision last() {
        List<Decision> h = decisions.history();
        return h.get(h.size() - 1);
    }

    @Test
    void pinningARatioSwitchesToFixedModeAndSaysSo() {
        AdminService ops = service(Map.of("policy.slo.ms", "200"));
        cluster.control = ControlMessage.active("v1", 1.0).withBounds(0.5, 1.0, 200);
        Views.Control c = ops.setKeepRatio(0.7, "alice");
        assertThat(c.keepRatio()).isEqualTo(0.7);
        assertThat(c.keepFloor()).isNull();
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 0.7));
        assertThat(ops.policy().keepMode()).isEqualTo(KeepMode.FIXED);
        assertThat(state.records.get("policy")).isEqualTo(ops.policy());
        Decision d = last();
        assertThat(d.action()).isEqualTo(Action.SET_KEEP_RATIO);
        assertThat(d.actor()).isEqualTo("alice");
        assertThat(d.reason()).isEqualTo("keep ratio within [0.50, 1.00] chosen by the workers for p95 200 ms -> 0.70"
                + " pinned by the operator (fixed mode: every batch at 0.70; keep_mode adaptive -> fixed, so the"
                + " workers no longer choose; the rules wait 30 s before changing it; POST /keep-bounds hands the"
                + " choice back to the workers)");
        // A later policy change keeps the pin.
        ops.setPolicy(Json.MAPPER.createObjectNode().put("slo_ms", 120), "alice");
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 0.7));
        assertThat(last().reason()).isEqualTo("policy changed: slo_ms 200.0 -> 120.0");
    }

    @Test
    void boundsAreValidatedAndHandTheChoiceBackToTheWorkers() {
        AdminService ops = service(Map.of("policy.keep.mode", "fixed", "policy.slo.ms", "200"));
        cluster.control = ControlMessage.active("v1", 0.7);
        PolicySettings before = ops.policy();
        assertThatThrownBy(() -> ops.setKeepBounds(0.8, 0.6, "bob")).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("keep_floor (0.8) must not exceed keep_ceiling (0.6)");
        assertThatThrownBy(() -> ops.setKeepBounds(null, 0.4, "bob"))
                .hasMessage("keep_floor (0.5) must not exceed keep_ceiling (0.4)");
        assertThatThrownBy(() -> ops.setKeepBounds(0.0, null, "bob")).hasMessage("keep_floor must be in (0, 1], got 0.0");
        assertThatThrownBy(() -> ops.setKeepBounds(null, Double.NaN, "bob"))
                .hasMessage("keep_ceiling must be in (0, 1], got NaN");
        assertThatThrownBy(() -> ops.setKeepBounds(null, null, "bob"))
                .hasMessage("keep_floor or keep_ceiling (numbers in (0, 1]) is required");
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 0.7));
        assertThat(ops.policy()).isEqualTo(before);
        assertThat(decisions.history()).isEmpty();

        Views.Control c = ops.setKeepBounds(0.6, null, "bob");
        assertThat(c.keepFloor()).isEqualTo(0.6);
        assertThat(c.keepCeiling()).isEqualTo(1.0);
        assertThat(c.sloMs()).isEqualTo(200);
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 1.0).withBounds(0.6, 1.0, 200));
        assertThat(ops.policy().keepMode()).isEqualTo(KeepMode.ADAPTIVE);
        assertThat(ops.policy().keepFloor()).isEqualTo(0.6);
        Decision d = last();
        assertThat(d.action()).isEqualTo(Action.SET_KEEP_BOUNDS);
        assertThat(d.keepFloor()).isEqualTo(0.6);
        assertThat(d.reason()).isEqualTo("keep bounds [0.60, 1.00] with p95 200 ms set by the operator (adaptive mode:"
                + " the workers choose each batch's keep ratio within them); vit.control: fixed keep ratio 0.70 -> keep"
                + " ratio within [0.60, 1.00] chosen by the workers for p95 200 ms");

        // The SLO follows a policy change, with the change said in the same audit.
        ops.setPolicy(Json.MAPPER.createObjectNode().put("slo_ms", 150), "bob");
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 1.0).withBounds(0.6, 1.0, 150));
        assertThat(last().reason()).isEqualTo("policy changed: slo_ms 200.0 -> 150.0; vit.control: keep ratio within"
                + " [0.60, 1.00] chosen by the workers for p95 200 ms -> keep ratio within [0.60, 1.00] chosen by the"
                + " workers for p95 150 ms");
        // A bad patch changes nothing.
        int n = decisions.history().size();
        assertThatThrownBy(() -> ops.setPolicy(Json.MAPPER.createObjectNode().put("keep_ceiling", 0.5), "bob"))
                .hasMessage("invalid policy: keep_floor (0.6) must not exceed keep_ceiling (0.5)");
        assertThat(decisions.history()).hasSize(n);
        assertThat(cluster.control.sloMs()).isEqualTo(150);
    }

    @Test
    void aPausedPolicyLeavesVitControlAloneUntilEnabled() {
        AdminService ops = service(Map.of("policy.enabled", "false"));
        cluster.control = ControlMessage.active("v1", 0.9);
        ops.setPolicy(Json.MAPPER.createObjectNode().put("slo_ms", 120), "carol");
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 0.9));
        ops.setPolicy(Json.MAPPER.createObjectNode().put("enabled", true), "carol");
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 0.9).withBounds(0.5, 1.0, 120));
        assertThat(last().reason()).startsWith("policy changed: enabled false -> true; vit.control: fixed keep ratio"
                + " 0.90 -> keep ratio within [0.50, 1.00]");
    }

    @Test
    void activateRollbackAndStatusCarryTheBounds() {
        AdminService ops = service(Map.of());
        ops.activate("v1", "dave");
        assertThat(cluster.control).as("the first activation in line with the policy")
                .isEqualTo(ControlMessage.active("v1", 1.0).withBounds(0.5, 1.0, 250));
        ops.rollback("dave");
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v0", 1.0).withBounds(0.5, 1.0, 250));
        assertThatThrownBy(() -> ops.rollback("dave")).isInstanceOf(ControllerException.class)
                .hasMessageContaining("v0 has no published parent");

        cluster.workers.put("w1", new io.vitstream.controller.state.ClusterView.SeenWorker(Fakes.worker("w1", "v0",
                0.6, new WorkerStatus.Load(30, 4, 80, 0.5, 1.0, Map.of("0.50", 50.0), 0.2)), clock.millis()));
        Views.Status s = ops.status();
        assertThat(s.keepMode()).isEqualTo("adaptive");
        assertThat(s.keepFloor()).isEqualTo(0.5);
        assertThat(s.keepCeiling()).isEqualTo(1.0);
        assertThat(s.workers()).singleElement().satisfies(w -> assertThat(w.load().arrivalPerS()).isEqualTo(30));
        assertThat(Json.MAPPER.valueToTree(s).toString()).contains("\"keep_mode\":\"adaptive\"",
                "\"keep_floor\":0.5", "\"arrival_per_s\":30.0");
    }

    @Test
    void healthIsDegradedWhenVitControlCanNoLongerBeWritten() {
        AdminService ops = service(Map.of());
        assertThat(ops.health()).containsEntry("status", "ok").doesNotContainKey("control_problem");
        plane.problem = "another controller instance claimed transactional id x";
        assertThat(ops.health()).containsEntry("status", "degraded")
                .containsEntry("control_problem", "another controller instance claimed transactional id x");
    }
}
