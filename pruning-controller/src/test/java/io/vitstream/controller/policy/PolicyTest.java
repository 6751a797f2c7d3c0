package io.vitstream.controller.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.controller.stream.MetricsView.LabelledCount;
import io.vitstream.controller.stream.MetricsView.VersionStats;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.WorkerStatus;
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

    // ---- adaptive mode: bounds on vit.control, the workers choose each batch's ratio ----

    private static FleetLoad load(double arrival, double capacityAtFloor, double atFloorShare) {
        WorkerStatus.Load l = new WorkerStatus.Load(arrival, 40, 900, 0.5, 1.0,
                Map.of("0.50", capacityAtFloor, "1.00", capacityAtFloor / 2), atFloorShare);
        return FleetLoad.of(List.of(worker("w1", "v1", l)), "v1", 0.5);
    }

    static WorkerStatus worker(String id, String version, WorkerStatus.Load l) {
        return new WorkerStatus(WorkerStatus.SCHEMA, id, "serving", version, null, version, 0.5, List.of(), null, 0,
                T0.toString(), l);
    }

    private static Observation adaptive(double floor, double ceiling, VersionStats st, FleetLoad load) {
        return new Observation("v1", null, ceiling, st, false, false, floor, ceiling, load);
    }

    @Test
    void adaptiveLatencyAloneMovesNothingWhileTheWorkersHaveRoomBelow() {
        // p95 far over the SLO, but the workers served at the floor in only 20% of their batches: theirs to fix.
        Policy.Outcome out = run(adaptive(0.5, 1.0, stats(900, 0, 0), load(100, 80, 0.2)), PolicyMemory.EMPTY, T0, 10);
        assertThat(out.decision()).isNull();
        assertThat(out.state()).isEqualTo(PolicyState.OVER_SLO);
        assertThat(out.memory().overWindows()).isZero();
        // Lasting headroom raises nothing either: the workers go up to the ceiling themselves.
        Policy.Outcome calm = run(adaptive(0.5, 1.0, stats(50, 0, 0), load(10, 80, 0)), PolicyMemory.EMPTY, T0, 10);
        assertThat(calm.decision()).isNull();
        assertThat(calm.state()).isEqualTo(PolicyState.STEADY);
    }

    @Test
    void adaptiveRule2ReprunesFromArrivalAndCapacityWhenTheWorkersSitAtTheFloor() {
        Policy.Outcome out = run(adaptive(0.5, 1.0, stats(900, 0, 0), load(120, 80, 0.85)), PolicyMemory.EMPTY, T0, 3);
        Decision d = out.decision();
        assertThat(d.rule()).isEqualTo(Rule.REPRUNE);
        assertThat(d.action()).isEqualTo(Action.START_PRUNE);
        assertThat(d.flopsRatio()).isEqualTo(0.6); // 0.9 x 80 / 120
        assertThat(d.version()).isEqualTo("v1");
        assertThat(d.reason()).isEqualTo("p95 900 ms > SLO 250 ms for 3 windows with the workers at the keep floor 0.50"
                + " in 85% of their batches (heartbeats) (v1, 500 predictions in the last 10 s): re-prune v1 to 0.60 of"
                + " its FLOPs (0.9 x capacity at the floor / arrival = 0.9 x 80.0 / 120.0 images/s, within [0.3, 0.9]);"
                + " 2 worker(s) would meet the arrival at the floor (1 measured)");
        assertThat(out.state()).isEqualTo(PolicyState.PRUNING);
        assertThat(out.memory().lastPruneMs()).isEqualTo(T0.plusSeconds(20).toEpochMilli());

        // While counting the windows: at the floor, no decision yet.
        Policy.Outcome counting = Policy.decide(S, adaptive(0.5, 1.0, stats(900, 0, 0), load(120, 80, 0.85)),
                PolicyMemory.EMPTY, T0);
        assertThat(counting.decision()).isNull();
        assertThat(counting.state()).isEqualTo(PolicyState.AT_FLOOR);
        // A window off the floor restarts the count.
        assertThat(Policy.decide(S, adaptive(0.5, 1.0, stats(900, 0, 0), load(120, 80, 0.1)), counting.memory(),
                T0.plusSeconds(10)).memory().overWindows()).isZero();
        // Far over the capacity: clamped to the smallest target.
        assertThat(run(adaptive(0.5, 1.0, stats(900, 0, 0), load(1000, 80, 0.9)), PolicyMemory.EMPTY, T0, 3)
                .decision().flopsRatio()).isEqualTo(0.3);
    }

    @Test
    void adaptiveRule2UsesSloOverP95WhenTheCapacitySufficesOrIsUnknown() {
        // Arrival 50/s within the capacity 80/s: the time per batch misses the SLO, sized by 0.9 x 250 / 400.
        Decision d = run(adaptive(0.5, 1.0, stats(400, 0, 0), load(50, 80, 0.9)), PolicyMemory.EMPTY, T0, 3)
                .decision();
        assertThat(d.flopsRatio()).isEqualTo(0.5625);
        assertThat(d.reason()).contains("(0.9 x SLO / p95; the arrival 50.0 images/s is within the capacity 80.0"
                + " images/s at the floor, so the time per batch misses the SLO, within [0.3, 0.9])");
        // No heartbeat carries a load section: the share at the floor from the predictions' keep ratios.
        FleetLoad none = FleetLoad.of(List.of(worker("w1", "v1", null)), "v1", 0.5).withPredictionsAtFloor(Map.of(
                0.5, stats(400, 0, 0), 0.8, new VersionStats("v1", 100, 1, 1, 1, 0, 0, 0, 0)));
        assertThat(none.atFloorShare()).isEqualTo(500.0 / 600);
        Decision fromPredictions = run(adaptive(0.5, 1.0, stats(400, 0, 0), none), PolicyMemory.EMPTY, T0, 3)
                .decision();
        assertThat(fromPredictions.reason()).contains("in 83% of their batches (predictions)",
                "(0.9 x SLO / p95; no worker reports its arrival and capacity, within [0.3, 0.9])");
        // Nothing says where the workers are: no re-prune.
        assertThat(run(adaptive(0.5, 1.0, stats(400, 0, 0), null), PolicyMemory.EMPTY, T0, 10).decision()).isNull();
    }

    @Test
    void adaptiveRule2AtFloorEqualToCeilingNeedsNoShareAndKeepsTheJobRules() {
        Observation pinned = adaptive(0.7, 0.7, stats(400, 0, 0), null);
        Decision d = run(pinned, PolicyMemory.EMPTY, T0, 3).decision();
        assertThat(d.action()).isEqualTo(Action.START_PRUNE);
        assertThat(d.reason()).contains("for 3 windows with no room to adapt (keep floor = ceiling 0.70)");
        // A running job, then the cool-down, then the next one.
        Observation busy = new Observation("v1", null, 0.7, stats(400, 0, 0), true, false, 0.7, 0.7, null);
        assertThat(Policy.decide(S, busy, new PolicyMemory(5, 0, 0, 0, 0, 0), T0).state())
                .isEqualTo(PolicyState.PRUNING);
        PolicyMemory afterPrune = PolicyMemory.EMPTY.pruneStarted(T0.toEpochMilli());
        Policy.Outcome cooling = run(pinned, afterPrune, T0.plusSeconds(60), 5);
        assertThat(cooling.state()).isEqualTo(PolicyState.AT_FLOOR);
        assertThat(Policy.decide(S, pinned, cooling.memory(), T0.plusSeconds(900)).decision().action())
                .isEqualTo(Action.START_PRUNE);
        PolicySettings noReprune = S.merge(Json.MAPPER.valueToTree(Map.of("reprune_enabled", false)));
        assertThat(Policy.decide(noReprune, pinned, new PolicyMemory(5, 0, 0, 0, 0, 0), T0).decision()).isNull();
    }

    @Test
    void adaptiveRule3RaisesTheFloorThenTheCeilingWithItThenRollsBack() {
        Policy.Outcome out = Policy.decide(S, adaptive(0.5, 1.0, stats(400, 100, 70), null), PolicyMemory.EMPTY, T0);
        Decision d = out.decision();
        assertThat(d.rule()).isEqualTo(Rule.ACCURACY);
        assertThat(d.action()).isEqualTo(Action.RAISE_KEEP_FLOOR);
        assertThat(d.keepFloor()).isEqualTo(0.6);
        assertThat(d.keepCeiling()).isEqualTo(1.0);
        assertThat(d.keepRatio()).isNull();
        assertThat(d.reason()).isEqualTo("accuracy 0.7000 < floor 0.8 (v1, 100 labelled in the last 10 s) with the keep"
                + " ratio within [0.50, 1.00]: keep floor 0.50 -> 0.60");
        assertThat(out.state()).isEqualTo(PolicyState.UNDER_ACCURACY);
        // Not again within the keep cool-down.
        assertThat(Policy.decide(S, adaptive(0.6, 1.0, stats(400, 100, 70), null), out.memory(), T0.plusSeconds(29))
                .decision()).isNull();

        Decision both = Policy.decide(S, adaptive(0.8, 0.8, stats(400, 100, 70), null), PolicyMemory.EMPTY, T0)
                .decision();
        assertThat(both.keepFloor()).isEqualTo(0.9);
        assertThat(both.keepCeiling()).isEqualTo(0.9);
        assertThat(both.reason()).endsWith("keep floor 0.80 -> 0.90 (the ceiling 0.80 with it)");

        Observation top = new Observation("v2", "v1", 1.0, stats(100, 100, 50), false, false, 1.0, 1.0, null);
        Decision back = Policy.decide(S, top, PolicyMemory.EMPTY, T0).decision();
        assertThat(back.action()).isEqualTo(Action.ROLLBACK_TO_PARENT);
        assertThat(back.version()).isEqualTo("v1");
        assertThat(back.keepFloor()).isEqualTo(0.5);
        assertThat(back.keepCeiling()).isEqualTo(1.0);
        assertThat(back.reason()).isEqualTo("accuracy 0.5000 < floor 0.8 (v2, 100 labelled in the last 10 s) at keep"
                + " floor = ceiling 1.00: roll back v2 to its parent v1 within the policy's [0.50, 1.00]");
        Decision hold = Policy.decide(S, adaptive(1.0, 1.0, stats(100, 100, 50), null), PolicyMemory.EMPTY, T0)
                .decision();
        assertThat(hold.action()).isEqualTo(Action.HOLD);
        assertThat(hold.reason()).endsWith("has no published parent to roll back to: nothing left for the rules to do");
    }

    @Test
    void alignedWritesTheModeBoundsAndSloAndKeepsARaisedFloor() {
        ControlMessage fixed = ControlMessage.active("v1", 0.9);
        ControlMessage a = Policy.aligned(null, S, fixed);
        assertThat(a).isEqualTo(fixed.withBounds(0.5, 1.0, 250));
        assertThat(Policy.describe(fixed)).isEqualTo("fixed keep ratio 0.90");
        assertThat(Policy.describe(a)).isEqualTo("keep ratio within [0.50, 1.00] chosen by the workers for p95 250 ms");
        assertThat(Policy.aligned(S, S, a)).isSameAs(a);

        // A floor raised by rule 3 stays when the SLO changes, and the SLO is written ...
        ControlMessage raised = fixed.withBounds(0.7, 1.0, 250);
        PolicySettings slo = S.merge(Json.MAPPER.valueToTree(Map.of("slo_ms", 120)));
        assertThat(Policy.aligned(S, slo, raised)).isEqualTo(fixed.withBounds(0.7, 1.0, 120));
        // ... but not when the operator sets keep_floor (even to the same figure the rule reached).
        PolicySettings floor = S.merge(Json.MAPPER.valueToTree(Map.of("keep_floor", 0.4, "keep_ceiling", 0.9)));
        assertThat(Policy.aligned(S, floor, raised)).isEqualTo(fixed.withBounds(0.4, 0.9, 250));
        // A lower ceiling clamps the kept floor and the starting ratio.
        PolicySettings low = S.merge(Json.MAPPER.valueToTree(Map.of("keep_ceiling", 0.6)));
        assertThat(Policy.aligned(S, low, raised)).isEqualTo(fixed.withBounds(0.6, 0.6, 250));

        PolicySettings fixedMode = S.merge(Json.MAPPER.valueToTree(Map.of("keep_mode", "fixed")));
        assertThat(Policy.aligned(S, fixedMode, raised)).isEqualTo(ControlMessage.active("v1", 1.0));
        assertThat(Policy.aligned(S, fixedMode, fixed)).isSameAs(fixed);
        // Rollouts carry the bounds along.
        assertThat(a.withCanary("v2", 0.25).withActive("v2")).isEqualTo(ControlMessage.active("v2", 1.0)
                .withBounds(0.5, 1.0, 250));
    }

    @Test
    void keepModeAndBoundsAreValidatedWithTheFieldNamed() {
        assertThat(S.keepMode()).isEqualTo(KeepMode.ADAPTIVE);
        assertThat(S.keepCeiling()).isEqualTo(1.0);
        assertThat(S.atFloorShare()).isEqualTo(0.5);
        assertThat(Json.MAPPER.valueToTree(S).toString()).contains("\"keep_mode\":\"adaptive\"",
                "\"keep_ceiling\":1.0", "\"at_floor_share\":0.5");
        assertThatThrownBy(() -> S.merge(Json.MAPPER.readTree("{\"keep_floor\": 0.8, \"keep_ceiling\": 0.6}")))
                .hasMessage("invalid policy: keep_floor (0.8) must not exceed keep_ceiling (0.6)");
        assertThatThrownBy(() -> S.merge(Json.MAPPER.readTree("{\"keep_ceiling\": 1.5}")))
                .hasMessage("invalid policy: keep_ceiling must be in (0.0, 1.0], got 1.5");
        assertThatThrownBy(() -> S.merge(Json.MAPPER.readTree("{\"keep_ceiling\": \"NaN\"}")))
                .hasMessage("invalid policy: keep_ceiling must be a number, got \"NaN\"");
        assertThatThrownBy(() -> S.merge(Json.MAPPER.readTree("{\"keep_mode\": \"auto\"}")))
                .hasMessage("invalid policy: keep_mode must be adaptive or fixed, got \"auto\"");
        assertThatThrownBy(() -> S.merge(Json.MAPPER.readTree("{\"keep_mode\": 1}")))
                .hasMessage("invalid policy: keep_mode must be a string, got 1");
        assertThatThrownBy(() -> S.withSettings(Map.of("keep.ceiling", "NaN")))
                .hasMessage("invalid policy: keep_ceiling must be a number, got \"NaN\"");
        assertThat(S.withSettings(Map.of("keep.mode", "fixed", "keep.ceiling", "0.9")).keepMode())
                .isEqualTo(KeepMode.FIXED);
        // A policy stored by an older controller (no keep_mode, keep_ceiling ...) takes the new settings' defaults.
        PolicySettings old = PolicySettings.restore(Json.MAPPER.createObjectNode().put("slo_ms", 120)
                .put("retired_setting", 1));
        assertThat(old.sloMs()).isEqualTo(120);
        assertThat(old.keepMode()).isEqualTo(KeepMode.ADAPTIVE);
        assertThat(old.keepCeiling()).isEqualTo(1.0);
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
