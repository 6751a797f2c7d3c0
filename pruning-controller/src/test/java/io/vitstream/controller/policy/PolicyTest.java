package io.vitstream.controller.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.controller.stream.MetricsView.LabelledCount;
import io.vitstream.controller.stream.MetricsView.VersionStats;
import io.vitstream.util.Json;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.DoubleUnaryOperator;
import org.junit.jupiter.api.Test;

/** The five rules as decisions and reasons from given figures, and no flapping within cool-downs. */
class PolicyTest {
    private static final Instant T0 = Instant.parse("2026-11-28T10:00:00Z");
    /** Defaults with a 250 ms SLO, 10 s windows, 3 breach windows, step 0.1, floor 0.5, keep cool-down 30 s. */
    private static final PolicySettings S = PolicySettings.defaults();

    private static VersionStats stats(double p95, long labelled, long correct) {
        return new VersionStats("v1", 500, p95 * 0.6, p95, p95 * 1.2, labelled, correct, 0, 0);
    }

    private static Observation obs(double keep, VersionStats st) {
        return new Observation("v1", null, keep, st, false, false);
    }

    /** Runs {@code windows} evaluations 10 s apart with the same observation; returns the last outcome. */
    private static Policy.Outcome run(Observation o, PolicyMemory m, Instant start, int windows) {
        Policy.Outcome out = null;
        for (int i = 0; i < windows; i++) {
            out = Policy.decide(S, o, out == null ? m : out.memory(), start.plusSeconds(10L * i));
            if (i < windows - 1) {
                assertThat(out.decision()).as("decision before window %d", i + 1).isNull();
            }
        }
        return out;
    }

    @Test
    void rule1LowersTheKeepRatioAfterBreachWindowsWithItsReason() {
        Policy.Outcome out = run(obs(1.0, stats(400, 300, 270)), PolicyMemory.EMPTY, T0, 3);
        Decision d = out.decision();
        assertThat(d.rule()).isEqualTo(Rule.LATENCY);
        assertThat(d.action()).isEqualTo(Action.LOWER_KEEP_RATIO);
        assertThat(d.keepRatio()).isEqualTo(0.9);
        assertThat(d.reason()).isEqualTo("p95 400 ms > SLO 250 ms for 3 windows (v1, 500 predictions in the last 10 s,"
                + " accuracy 0.9000 >= floor 0.8 (v1, 300 labelled in the last 10 s)): keep ratio 1.00 -> 0.90");
        assertThat(d.actor()).isEqualTo("policy");
        assertThat(out.state()).isEqualTo(PolicyState.OVER_SLO);
        assertThat(out.memory().overWindows()).isZero();
        assertThat(out.memory().lastKeepChangeMs()).isEqualTo(T0.plusSeconds(20).toEpochMilli());
    }

    @Test
    void rule1StopsAtTheFloor() {
        Decision d = run(obs(0.55, stats(400, 0, 0)), PolicyMemory.EMPTY, T0, 3).decision();
        assertThat(d.keepRatio()).isEqualTo(0.5);
        assertThat(d.reason()).endsWith("keep ratio 0.55 -> 0.50");
    }

    @Test
    void rule1NeedsEnoughPredictionsInTheWindow() {
        VersionStats few = new VersionStats("v1", 5, 300, 900, 900, 0, 0, 0, 0);
        Policy.Outcome out = Policy.decide(S, obs(1.0, few), PolicyMemory.EMPTY, T0);
        assertThat(out.decision()).isNull();
        assertThat(out.state()).isEqualTo(PolicyState.NO_DATA);
        assertThat(Policy.decide(S, obs(1.0, null), PolicyMemory.EMPTY, T0).state()).isEqualTo(PolicyState.NO_DATA);
    }

    @Test
    void rule2StartsAReprunScaledBySloOverLatencyAtTheFloor() {
        Policy.Outcome out = run(obs(0.5, stats(400, 0, 0)), PolicyMemory.EMPTY, T0, 3);
        Decision d = out.decision();
        assertThat(d.rule()).isEqualTo(Rule.REPRUNE);
        assertThat(d.action()).isEqualTo(Action.START_PRUNE);
        assertThat(d.flopsRatio()).isEqualTo(0.5625); // 0.9 x 250 / 400
        assertThat(d.version()).isEqualTo("v1");
        assertThat(d.reason()).contains("p95 400 ms > SLO 250 ms for 3 windows")
                .endsWith("at the keep-ratio floor 0.50: re-prune v1 to 0.56 of its FLOPs (0.9 x SLO / p95, within "
                        + "[0.3, 0.9])");
        assertThat(out.state()).isEqualTo(PolicyState.PRUNING);

        // Far over the SLO: clamped to the smallest target.
        assertThat(run(obs(0.5, stats(5000, 0, 0)), PolicyMemory.EMPTY, T0, 3).decision().flopsRatio())
                .isEqualTo(0.3);
        // Just over: clamped to the largest.
        PolicySettings cautious = S.merge(Json.MAPPER.valueToTree(Map.of("prune_safety", 1.0,
                "prune_max_flops_ratio", 0.8)));
        assertThat(Policy.decide(cautious, obs(0.5, stats(260, 0, 0)), new PolicyMemory(2, 0, 0, 0, 0, 0), T0)
                .decision().flopsRatio()).isEqualTo(0.8);
    }

    @Test
    void rule2WaitsForARunningJobAndForItsCooldown() {
        Observation busy = new Observation("v1", null, 0.5, stats(400, 0, 0), true, false);
        Policy.Outcome out = Policy.decide(S, busy, new PolicyMemory(5, 0, 0, 0, 0, 0), T0);
        assertThat(out.decision()).isNull();
        assertThat(out.state()).isEqualTo(PolicyState.PRUNING);

        PolicyMemory afterPrune = PolicyMemory.EMPTY.pruneStarted(T0.toEpochMilli());
        Policy.Outcome cooling = run(obs(0.5, stats(400, 0, 0)), afterPrune, T0.plusSeconds(60), 5);
        assertThat(cooling.decision()).isNull();
        assertThat(cooling.state()).isEqualTo(PolicyState.AT_FLOOR);
        // 900 s after the last one, the next re-prune may start.
        assertThat(Policy.decide(S, obs(0.5, stats(400, 0, 0)), cooling.memory(), T0.plusSeconds(900)).decision()
                .action()).isEqualTo(Action.START_PRUNE);
    }

    @Test
    void rule3RaisesTheKeepRatioWhenAccuracyIsUnderItsFloorEvenOverTheSlo() {
        Policy.Outcome out = Policy.decide(S, obs(0.6, stats(400, 100, 70)), PolicyMemory.EMPTY, T0);
        Decision d = out.decision();
        assertThat(d.rule()).isEqualTo(Rule.ACCURACY);
        assertThat(d.action()).isEqualTo(Action.RAISE_KEEP_RATIO);
        assertThat(d.keepRatio()).isEqualTo(0.7);
        assertThat(d.reason()).isEqualTo("accuracy 0.7000 < floor 0.8 (v1, 100 labelled in the last 10 s): keep ratio"
                + " 0.60 -> 0.70");
        assertThat(out.state()).isEqualTo(PolicyState.UNDER_ACCURACY);
    }

    @Test
    void rule3UsesDenseTeacherAgreementWhenLabelsAreTooFew() {
        VersionStats st = new VersionStats("v1", 500, 100, 200, 220, 3, 3, 80, 68);
        Decision d = Policy.decide(S, obs(0.8, st), PolicyMemory.EMPTY, T0).decision();
        assertThat(d.action()).isEqualTo(Action.RAISE_KEEP_RATIO);
        assertThat(d.reason()).startsWith("dense-teacher agreement 0.8500 < floor 0.9 (v1, 80 teacher-scored");
    }

    @Test
    void rule3RollsBackToTheParentAtFullKeepRatioOrHoldsWithoutOne() {
        Observation withParent = new Observation("v2", "v1", 1.0, stats(100, 100, 50), false, false);
        Policy.Outcome out = Policy.decide(S, withParent, PolicyMemory.EMPTY, T0);
        assertThat(out.decision().action()).isEqualTo(Action.ROLLBACK_TO_PARENT);
        assertThat(out.decision().version()).isEqualTo("v1");
        assertThat(out.decision().reason()).isEqualTo("accuracy 0.5000 < floor 0.8 (v2, 100 labelled in the last 10 s)"
                + " at keep ratio 1.00: roll back v2 to its parent v1");
        // Not again within the rollback cool-down (300 s).
        assertThat(Policy.decide(S, withParent, out.memory(), T0.plusSeconds(299)).decision()).isNull();

        Policy.Outcome hold = Policy.decide(S, obs(1.0, stats(100, 100, 50)), PolicyMemory.EMPTY, T0);
        assertThat(hold.decision().action()).isEqualTo(Action.HOLD);
        assertThat(hold.decision().reason()).endsWith("v1 has no published parent to roll back to: nothing left for"
                + " the rules to do");
        assertThat(Policy.decide(S, obs(1.0, stats(100, 100, 50)), hold.memory(), T0.plusSeconds(10)).decision())
                .isNull();
    }

    @Test
    void rule4RaisesTheKeepRatioAfterLastingHeadroom() {
        Policy.Outcome out = run(obs(0.5, stats(100, 0, 0)), PolicyMemory.EMPTY, T0, 6);
        Decision d = out.decision();
        assertThat(d.rule()).isEqualTo(Rule.HEADROOM);
        assertThat(d.action()).isEqualTo(Action.RAISE_KEEP_RATIO);
        assertThat(d.keepRatio()).isEqualTo(0.6);
        assertThat(d.reason()).isEqualTo("p95 100 ms < 0.6 x SLO 250 ms for 6 windows (v1): keep ratio 0.50 -> 0.60");
        // At 1.0 there is nothing to raise; between 0.6 x SLO and the SLO nothing happens either.
        assertThat(run(obs(1.0, stats(100, 0, 0)), PolicyMemory.EMPTY, T0, 10).decision()).isNull();
        Policy.Outcome steady = run(obs(0.5, stats(200, 0, 0)), PolicyMemory.EMPTY, T0, 10);
        assertThat(steady.decision()).isNull();
        assertThat(steady.state()).isEqualTo(PolicyState.STEADY);
    }

    @Test
    void rule5PromotesANotWorseCanaryAndRollsBackAWorseOne() {
        Decision promote = Policy.judgeCanary(S, "v2", "v1", new LabelledCount(200, 170), new LabelledCount(600, 516),
                1000, T0);
        assertThat(promote.rule()).isEqualTo(Rule.CANARY);
        assertThat(promote.action()).isEqualTo(Action.PROMOTE_CANARY);
        assertThat(promote.reason()).isEqualTo("canary v2 accuracy 0.8500 (200 labelled) vs active v1 0.8600 (600"
                + " labelled), margin 0.02: not worse, promote v2");

        Decision back = Policy.judgeCanary(S, "v2", "v1", new LabelledCount(250, 25), new LabelledCount(600, 516),
                1000, T0);
        assertThat(back.action()).isEqualTo(Action.ROLLBACK_CANARY);
        assertThat(back.reason()).endsWith("worse by 0.7600, roll back to v1");

        // Too few labels: wait, then roll back when the comparison times out.
        assertThat(Policy.judgeCanary(S, "v2", "v1", new LabelledCount(199, 199), new LabelledCount(600, 500), 1000,
                T0)).isNull();
        Decision timeout = Policy.judgeCanary(S, "v2", "v1", new LabelledCount(10, 10), new LabelledCount(30, 30),
                600_001, T0);
        assertThat(timeout.action()).isEqualTo(Action.ROLLBACK_CANARY);
        assertThat(timeout.reason()).startsWith("only 10 labelled predictions of canary v2 and 30 of active v1 within"
                + " 600 s (need 200 of each)");
    }

    @Test
    void disabledOrDuringARolloutTheRulesTakeNoAction() {
        PolicySettings off = S.merge(Json.MAPPER.valueToTree(Map.of("enabled", false)));
        assertThat(Policy.decide(S, obs(0.7, stats(900, 100, 10)), PolicyMemory.EMPTY, T0).decision())
                .as("enabled: rule 3 acts on the first window").isNotNull();
        for (int i = 0; i < 5; i++) {
            Policy.Outcome o = Policy.decide(off, obs(0.7, stats(900, 100, 10)), PolicyMemory.EMPTY, T0.plusSeconds(i));
            assertThat(o.decision()).isNull();
            assertThat(o.state()).isEqualTo(PolicyState.PAUSED);
        }
        Observation rolling = new Observation("v1", null, 0.7, stats(900, 100, 10), false, true);
        Policy.Outcome r = Policy.decide(S, rolling, PolicyMemory.EMPTY, T0);
        assertThat(r.decision()).isNull();
        assertThat(r.state()).isEqualTo(PolicyState.ROLLING_OUT);
    }

    /**
     * A closed loop where latency follows the keep ratio and alternates between far over the SLO and deep headroom
     * every window: the keep ratio changes, but never twice within the keep cool-down, whatever the rules.
     */
    @Test
    void noKeepRatioDecisionFlapsWithinItsCooldown() {
        PolicySettings s = S.merge(Json.MAPPER.valueToTree(Map.of("breach_windows", 1, "headroom_windows", 1,
                "keep_cooldown_s", 45, "accuracy_floor", 0.85)));
        DoubleUnaryOperator[] latency = {k -> 2000 * k, k -> 10 * k};
        double keep = 1.0;
        PolicyMemory m = PolicyMemory.EMPTY;
        List<Instant> changes = new ArrayList<>();
        for (int w = 0; w < 200; w++) {
            Instant now = T0.plusSeconds(10L * w);
            // Accuracy dips under its floor every 7th window: rule 3 joins in.
            long correct = w % 7 == 0 ? 80 : 95;
            Policy.Outcome out = Policy.decide(s, obs(keep, stats(latency[w % 2].applyAsDouble(keep), 100, correct)),
                    m, now);
            m = out.memory();
            if (out.decision() != null && out.decision().keepRatio() != null) {
                keep = out.decision().keepRatio();
                changes.add(now);
            }
        }
        assertThat(changes.size()).as("the loop did act").isGreaterThan(10);
        for (int i = 1; i < changes.size(); i++) {
            assertThat(Duration.between(changes.get(i - 1), changes.get(i))).as("gap before change %d", i)
                    .isGreaterThanOrEqualTo(Duration.ofSeconds(45));
        }
    }

    @Test
    void settingsAreValidatedWithEveryProblemNamed() {
        assertThat(S.problems()).isEmpty();
        String json = Json.MAPPER.valueToTree(S).toString();
        assertThat(json).contains("\"slo_ms\":250.0", "\"keep_cooldown_s\":30.0", "\"canary_share\":0.25");
        assertThatThrownBy(() -> S.merge(Json.MAPPER.readTree("{\"slo_ms\": -1, \"keep_floor\": 2, \"bogus\": 1}")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("invalid policy: unknown policy setting bogus");
        assertThatThrownBy(() -> S.merge(Json.MAPPER.readTree("{\"slo_ms\": -1, \"keep_floor\": 2}")))
                .hasMessage("invalid policy: slo_ms must be > 0, got -1.0; keep_floor must be in (0.0, 1.0], got 2.0");
        assertThatThrownBy(() -> S.merge(Json.MAPPER.readTree("{\"slo_ms\": \"fast\", \"breach_windows\": 1.5,"
                + " \"enabled\": 1}")))
                .hasMessage("invalid policy: slo_ms must be a number, got \"fast\"; breach_windows must be an integer,"
                        + " got 1.5; enabled must be true or false, got 1");
        assertThatThrownBy(() -> S.merge(Json.MAPPER.readTree("[1]"))).hasMessageStartingWith("policy must be a JSON"
                + " object");
        PolicySettings changed = S.withSettings(Map.of("slo.ms", "120", "breach.windows", "2", "enabled", "false"));
        assertThat(changed.sloMs()).isEqualTo(120);
        assertThat(changed.breachWindows()).isEqualTo(2);
        assertThat(changed.enabled()).isFalse();
        assertThat(changed.keepStep()).isEqualTo(S.keepStep());
    }
}
