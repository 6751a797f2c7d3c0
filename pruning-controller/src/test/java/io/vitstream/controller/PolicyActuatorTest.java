package io.vitstream.controller;

import static io.vitstream.controller.Fakes.T0;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vitstream.controller.error.ControllerException;
import io.vitstream.controller.policy.Action;
import io.vitstream.controller.policy.Decision;
import io.vitstream.controller.policy.DecisionLog;
import io.vitstream.controller.policy.PolicySettings;
import io.vitstream.controller.policy.Rule;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.util.Json;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Decisions carried out on vit.control (bounds and canary kept), re-prunes started or held, alignment audited. */
class PolicyActuatorTest {
    private final Fakes.Cluster cluster = new Fakes.Cluster();
    private final Fakes.Plane plane = new Fakes.Plane(cluster);
    private final Fakes.State state = new Fakes.State();
    private final Fakes.MutableClock clock = new Fakes.MutableClock();
    private final DecisionLog decisions = new DecisionLog(100, new SimpleMeterRegistry());
    private final VersionNotes notes = new VersionNotes(state, clock);
    private final List<String> pruned = new ArrayList<>();
    private RuntimeException pruneRefusal;
    private final PolicyActuator actuator = new PolicyActuator(plane, (parent, ratio, reason) -> {
        if (pruneRefusal != null) {
            throw pruneRefusal;
        }
        pruned.add(parent + "@" + ratio);
        return null;
    }, decisions, notes, clock);

    private static Decision policy(Action a, String reason) {
        return Decision.of(T0, a == Action.START_PRUNE ? Rule.REPRUNE : Rule.ACCURACY, a, reason, "policy");
    }

    @Test
    void keepRatioAndFloorChangesReachVitControlKeepingTheRest() {
        ControlMessage fixed = ControlMessage.active("v1", 0.9).withCanary("v2", 0.25);
        cluster.control = fixed;
        actuator.act(Decision.of(T0, Rule.LATENCY, Action.LOWER_KEEP_RATIO, "slow", "policy").withKeepRatio(0.8),
                fixed);
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 0.8).withCanary("v2", 0.25));

        ControlMessage adaptive = ControlMessage.active("v1", 0.9).withBounds(0.5, 1.0, 200).withKeep(0.7)
                .withCanary("v2", 0.25);
        cluster.control = adaptive;
        actuator.act(policy(Action.RAISE_KEEP_FLOOR, "inaccurate").withBounds(0.6, 1.0), adaptive);
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 0.7).withBounds(0.6, 1.0, 200).withKeep(0.7)
                .withCanary("v2", 0.25));
        actuator.act(policy(Action.RAISE_KEEP_FLOOR, "inaccurate").withBounds(0.8, 0.8), cluster.control);
        assertThat(cluster.control.keepFloor()).isEqualTo(0.8);
        assertThat(cluster.control.keepCeiling()).isEqualTo(0.8);
        assertThat(cluster.control.keepRatio()).isEqualTo(0.8);
        assertThat(cluster.control.sloMs()).isEqualTo(200);
        assertThat(decisions.history()).extracting(Decision::action).containsExactly(Action.LOWER_KEEP_RATIO,
                Action.RAISE_KEEP_FLOOR, Action.RAISE_KEEP_FLOOR);
    }

    @Test
    void aDecisionThatCannotBeWrittenIsNotRecorded() {
        ControlMessage fixed = ControlMessage.active("v1", 0.9);
        cluster.control = fixed;
        plane.failure = new IllegalStateException("broker away");
        assertThatThrownBy(() -> actuator.act(Decision.of(T0, Rule.LATENCY, Action.LOWER_KEEP_RATIO, "slow", "policy")
                .withKeepRatio(0.8), fixed)).hasMessage("broker away");
        assertThat(decisions.history()).isEmpty();
    }

    @Test
    void aRepruneStartsOrIsHeldWithWhy() {
        ControlMessage c = ControlMessage.active("v1", 0.5);
        actuator.act(policy(Action.START_PRUNE, "at the floor").withVersion("v1").withFlopsRatio(0.6), c);
        assertThat(pruned).containsExactly("v1@0.6");
        assertThat(decisions.history()).singleElement().extracting(Decision::action).isEqualTo(Action.START_PRUNE);

        pruneRefusal = ControllerException.conflict("no signing.private.key is configured");
        actuator.act(policy(Action.START_PRUNE, "at the floor").withVersion("v1").withFlopsRatio(0.6), c);
        Decision held = decisions.history().get(1);
        assertThat(held.action()).isEqualTo(Action.HOLD);
        assertThat(held.rule()).isEqualTo(Rule.REPRUNE);
        assertThat(held.reason()).isEqualTo("at the floor; not started: no signing.private.key is configured");
    }

    @Test
    void rollbackToTheParentStartsFromThePolicysBoundsOrAtFullKeepRatio() {
        ControlMessage adaptive = ControlMessage.active("v2", 1.0).withBounds(1.0, 1.0, 200);
        cluster.control = adaptive;
        actuator.act(policy(Action.ROLLBACK_TO_PARENT, "inaccurate at 1.0").withVersion("v1").withBounds(0.5, 1.0),
                adaptive);
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 1.0).withBounds(0.5, 1.0, 200));
        assertThat(notes.get("v2").status()).isEqualTo("rolled_back");
        assertThat(notes.get("v1").status()).isEqualTo("active");
        assertThat(state.records).containsKeys("version/v1", "version/v2");

        ControlMessage fixed = ControlMessage.active("v2", 1.0);
        cluster.control = fixed;
        actuator.act(policy(Action.ROLLBACK_TO_PARENT, "inaccurate at 1.0").withVersion("v1").withKeepRatio(1.0),
                fixed);
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 1.0));
    }

    @Test
    void alignAtStartWritesThePolicysModeOnceAndAuditsIt() {
        PolicySettings s = PolicySettings.defaults().merge(Json.MAPPER.valueToTree(Map.of("slo_ms", 200)));
        actuator.alignAtStart(null, s);
        assertThat(plane.writes).as("nothing active: nothing to align").isEmpty();

        cluster.control = ControlMessage.active("v1", 0.9);
        actuator.alignAtStart(null, s);
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 0.9).withBounds(0.5, 1.0, 200));
        Decision d = decisions.history().get(0);
        assertThat(d.rule()).isEqualTo(Rule.ADMIN);
        assertThat(d.action()).isEqualTo(Action.ALIGN_CONTROL);
        assertThat(d.actor()).isEqualTo("startup");
        assertThat(d.keepFloor()).isEqualTo(0.5);
        assertThat(d.reason()).isEqualTo("vit.control brought in line with the policy (keep_mode adaptive): fixed keep"
                + " ratio 0.90 -> keep ratio within [0.50, 1.00] chosen by the workers for p95 200 ms");

        // In line already (a restart): nothing written, nothing audited.
        actuator.alignAtStart(s, s);
        assertThat(plane.writes).hasSize(1);
        assertThat(decisions.history()).hasSize(1);
        // Paused: vit.control stays as the operator left it.
        cluster.control = ControlMessage.active("v1", 0.9);
        actuator.alignAtStart(null, s.merge(Json.MAPPER.valueToTree(Map.of("enabled", false))));
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 0.9));
        // Fixed mode drops the bounds.
        cluster.control = ControlMessage.active("v1", 0.9).withBounds(0.5, 1.0, 200).withKeep(0.7);
        assertThat(actuator.align(s, s.merge(Json.MAPPER.valueToTree(Map.of("keep_mode", "fixed")))))
                .isEqualTo("keep ratio within [0.50, 1.00] chosen by the workers for p95 200 ms -> fixed keep ratio"
                        + " 0.70");
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 0.7));
    }
}
