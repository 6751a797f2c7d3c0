package io.vitstream.controller.policy;

import io.vitstream.controller.stream.MetricsView.LabelledCount;
import io.vitstream.controller.stream.MetricsView.VersionStats;
import io.vitstream.kafka.ControlMessage;
import java.time.Instant;
import java.util.Locale;

/**
 * The five rules of the controller's loop (DESIGN.md) as pure functions: same settings, observation, memory and time
 * in, same decision out. Nothing here reads Kafka, a clock or a thread; the controller feeds it and carries out what
 * it decides.
 *
 * <p>Precedence within one evaluation: accuracy first (rule 3: a fast wrong answer is worth nothing), then latency
 * (rules 1 and 2), then headroom (rule 4). Rule 5 is {@link #judgeCanary}, called by the rollout. Every keep-ratio
 * change restarts the runs of windows and starts the keep cool-down, whichever direction it went, so the ratio cannot
 * flap faster than {@code keep_cooldown_s}; a re-prune and a rollback each have their own cool-down.
 *
 * <p>The rules follow what vit.control says is served. Fixed (no bounds): rules 1-4 as above, stepping the one ratio.
 * Adaptive (bounds and SLO on vit.control): the workers' fast loop does rules 1 and 4 per batch; here rule 3 raises
 * the floor, and rule 2 re-prunes when the workers sit at the floor and p95 is still over the SLO, to a FLOPs target
 * sized from the measured arrival rate and capacity at the floor ({@link FleetLoad}). {@link #aligned} is what
 * vit.control should say for given settings.
 */
public final class Policy {
    public static final String ACTOR = "policy";
    private static final double EPS = 1e-9;

    private Policy() {}

    /** One evaluation's result: at most one decision, the memory for the next one, and the state for the gauge. */
    public record Outcome(Decision decision, PolicyMemory memory, PolicyState state) {}

    /** Evaluates rules 1-4 for one window ending at {@code now}. */
    public static Outcome decide(PolicySettings s, Observation o, PolicyMemory m, Instant now) {
        long nowMs = now.toEpochMilli();
        if (!s.enabled()) {
            return new Outcome(null, m.runs(0, 0), PolicyState.PAUSED);
        }
        if (o.rolloutActive()) {
            return new Outcome(null, m.runs(0, 0), PolicyState.ROLLING_OUT);
        }
        VersionStats st = o.active();
        boolean latencyKnown = st != null && st.predictions() >= s.minPredictions() && !Double.isNaN(st.p95Ms());
        boolean over = latencyKnown && st.p95Ms() > s.sloMs();
        if (o.adaptive()) {
            return adaptive(s, o, m, now, st, latencyKnown, over);
        }
        boolean headroom = latencyKnown && st.p95Ms() < s.headroomFraction() * s.sloMs();
        PolicyMemory mem = m.runs(over ? m.overWindows() + 1 : 0, headroom ? m.headroomWindows() + 1 : 0);
        double keep = o.keepRatio();
        boolean keepCooled = nowMs - m.lastKeepChangeMs() >= s.keepCooldownS() * 1000;

        // Rule 3: quality under its floor.
        Quality q = quality(s, st);
        if (q != null && q.low()) {
            if (keep < 1 - EPS) {
                if (!keepCooled) {
                    return new Outcome(null, mem, PolicyState.UNDER_ACCURACY);
                }
                double to = round(Math.min(1.0, keep + s.keepStep()));
                return new Outcome(Decision.of(now, Rule.ACCURACY, Action.RAISE_KEEP_RATIO,
                        q.describe(o.activeVersion(), s) + ": keep ratio " + fmt2(keep) + " -> " + fmt2(to), ACTOR)
                        .withKeepRatio(to).withVersion(o.activeVersion()), mem.keepChanged(nowMs),
                        PolicyState.UNDER_ACCURACY);
            }
            if (o.parentVersion() != null && !o.parentVersion().equals(o.activeVersion())) {
                if (nowMs - m.lastRollbackMs() < s.rollbackCooldownS() * 1000) {
                    return new Outcome(null, mem, PolicyState.UNDER_ACCURACY);
                }
                return new Outcome(Decision.of(now, Rule.ACCURACY, Action.ROLLBACK_TO_PARENT,
                        q.describe(o.activeVersion(), s) + " at keep ratio 1.00: roll back " + o.activeVersion()
                                + " to its parent " + o.parentVersion(), ACTOR)
                        .withVersion(o.parentVersion()).withKeepRatio(1.0), mem.rolledBack(nowMs),
                        PolicyState.UNDER_ACCURACY);
            }
            if (nowMs - m.lastHoldMs() < s.rollbackCooldownS() * 1000) {
                return new Outcome(null, mem, PolicyState.UNDER_ACCURACY);
            }
            return new Outcome(Decision.of(now, Rule.ACCURACY, Action.HOLD,
                    q.describe(o.activeVersion(), s) + " at keep ratio 1.00 and " + o.activeVersion()
                            + " has no published parent to roll back to: nothing left for the rules to do", ACTOR)
                    .withVersion(o.activeVersion()), mem.held(nowMs), PolicyState.UNDER_ACCURACY);
        }

        // Rules 1 and 2: p95 over the SLO for breach_windows windows.
        if (over) {
            if (mem.overWindows() < s.breachWindows()) {
                return new Outcome(null, mem, o.jobRunning() ? PolicyState.PRUNING : PolicyState.OVER_SLO);
            }
            String why = "p95 " + fmt0(st.p95Ms()) + " ms > SLO " + fmt0(s.sloMs()) + " ms for " + mem.overWindows()
                    + " windows (" + o.activeVersion() + ", " + st.predictions() + " predictions in the last "
                    + fmt0(s.windowS()) + " s" + (q == null ? "" : ", " + q.describe(o.activeVersion(), s)) + ")";
            if (keep > s.keepFloor() + EPS) {
                if (!keepCooled) {
                    return new Outcome(null, mem, PolicyState.OVER_SLO);
                }
                double to = round(Math.max(s.keepFloor(), keep - s.keepStep()));
                return new Outcome(Decision.of(now, Rule.LATENCY, Action.LOWER_KEEP_RATIO,
                        why + ": keep ratio " + fmt2(keep) + " -> " + fmt2(to), ACTOR)
                        .withKeepRatio(to).withVersion(o.activeVersion()), mem.keepChanged(nowMs), PolicyState.OVER_SLO);
            }
            if (o.jobRunning()) {
                return new Outcome(null, mem, PolicyState.PRUNING);
            }
            if (!s.repruneEnabled() || nowMs - m.lastPruneMs() < s.pruneCooldownS() * 1000) {
                return new Outcome(null, mem, PolicyState.AT_FLOOR);
            }
            double target = round(clamp(s.pruneSafety() * s.sloMs() / st.p95Ms(), s.pruneMinFlopsRatio(),
                    s.pruneMaxFlopsRatio()));
            return new Outcome(Decision.of(now, Rule.REPRUNE, Action.START_PRUNE,
                    why + " at the keep-ratio floor " + fmt2(s.keepFloor()) + ": re-prune " + o.activeVersion()
                            + " to " + fmt2(target) + " of its FLOPs (" + s.pruneSafety() + " x SLO / p95, within ["
                            + s.pruneMinFlopsRatio() + ", " + s.pruneMaxFlopsRatio() + "])", ACTOR)
                    .withVersion(o.activeVersion()).withFlopsRatio(target), mem.pruneStarted(nowMs),
                    PolicyState.PRUNING);
        }

        // Rule 4: lasting headroom.
        if (headroom && keep < 1 - EPS) {
            if (mem.headroomWindows() < s.headroomWindows() || !keepCooled) {
                return new Outcome(null, mem, PolicyState.HEADROOM);
            }
            double to = round(Math.min(1.0, keep + s.keepStep()));
            return new Outcome(Decision.of(now, Rule.HEADROOM, Action.RAISE_KEEP_RATIO,
                    "p95 " + fmt0(st.p95Ms()) + " ms < " + s.headroomFraction() + " x SLO " + fmt0(s.sloMs())
                            + " ms for " + mem.headroomWindows() + " windows (" + o.activeVersion() + "): keep ratio "
                            + fmt2(keep) + " -> " + fmt2(to), ACTOR)
                    .withKeepRatio(to).withVersion(o.activeVersion()), mem.keepChanged(nowMs), PolicyState.HEADROOM);
        }
        PolicyState state = !latencyKnown ? PolicyState.NO_DATA : o.jobRunning() ? PolicyState.PRUNING
                : PolicyState.STEADY;
        return new Outcome(null, mem, state);
    }

    /**
     * Rules 2 and 3 with bounds on vit.control: the workers choose each batch's ratio, so latency alone moves nothing
     * here. Accuracy under its floor raises the floor (the ceiling with it when they meet); at floor = ceiling = 1.0 it
     * rolls back as in fixed mode. p95 over the SLO for {@code breach_windows} windows while the workers sit at the
     * floor (at least {@code at_floor_share} of their batches, or no room between floor and ceiling) starts a
     * re-prune.
     */
    private static Outcome adaptive(PolicySettings s, Observation o, PolicyMemory m, Instant now, VersionStats st,
            boolean latencyKnown, boolean over) {
        long nowMs = now.toEpochMilli();
        double floor = o.keepFloor();
        double ceiling = o.keepCeiling();
        boolean noRoom = floor >= ceiling - EPS;
        FleetLoad load = o.load();
        Double share = load == null ? null : load.atFloorShare();
        boolean atFloor = noRoom || share != null && share >= s.atFloorShare() - EPS;
        PolicyMemory mem = m.runs(over && atFloor ? m.overWindows() + 1 : 0, 0);
        boolean keepCooled = nowMs - m.lastKeepChangeMs() >= s.keepCooldownS() * 1000;
        String bounds = "keep ratio within [" + fmt2(floor) + ", " + fmt2(ceiling) + "]";

        // Rule 3: quality under its floor.
        Quality q = quality(s, st);
        if (q != null && q.low()) {
            if (floor < 1 - EPS) {
                if (!keepCooled) {
                    return new Outcome(null, mem, PolicyState.UNDER_ACCURACY);
                }
                double to = round(Math.min(1.0, floor + s.keepStep()));
                double toCeiling = Math.max(ceiling, to);
                return new Outcome(Decision.of(now, Rule.ACCURACY, Action.RAISE_KEEP_FLOOR,
                        q.describe(o.activeVersion(), s) + " with the " + bounds + ": keep floor " + fmt2(floor)
                                + " -> " + fmt2(to) + (toCeiling > ceiling + EPS ? " (the ceiling " + fmt2(ceiling)
                                + " with it)" : ""), ACTOR)
                        .withBounds(to, toCeiling).withVersion(o.activeVersion()), mem.keepChanged(nowMs),
                        PolicyState.UNDER_ACCURACY);
            }
            if (o.parentVersion() != null && !o.parentVersion().equals(o.activeVersion())) {
                if (nowMs - m.lastRollbackMs() < s.rollbackCooldownS() * 1000) {
                    return new Outcome(null, mem, PolicyState.UNDER_ACCURACY);
                }
                // The raised floor belonged to the version rolled back: the parent starts from the policy's bounds.
                return new Outcome(Decision.of(now, Rule.ACCURACY, Action.ROLLBACK_TO_PARENT,
                        q.describe(o.activeVersion(), s) + " at keep floor = ceiling 1.00: roll back "
                                + o.activeVersion() + " to its parent " + o.parentVersion() + " within the policy's ["
                                + fmt2(s.keepFloor()) + ", " + fmt2(s.keepCeiling()) + "]", ACTOR)
                        .withVersion(o.parentVersion()).withBounds(s.keepFloor(), s.keepCeiling()),
                        mem.rolledBack(nowMs), PolicyState.UNDER_ACCURACY);
            }
            if (nowMs - m.lastHoldMs() < s.rollbackCooldownS() * 1000) {
                return new Outcome(null, mem, PolicyState.UNDER_ACCURACY);
            }
            return new Outcome(Decision.of(now, Rule.ACCURACY, Action.HOLD,
                    q.describe(o.activeVersion(), s) + " at keep floor = ceiling 1.00 and " + o.activeVersion()
                            + " has no published parent to roll back to: nothing left for the rules to do", ACTOR)
                    .withVersion(o.activeVersion()), mem.held(nowMs), PolicyState.UNDER_ACCURACY);
        }

        // Rule 2: over the SLO with the workers at the floor, for breach_windows windows.
        if (over) {
            if (!atFloor) {
                // The workers' fast loop still has room below: it is theirs to meet the SLO.
                return new Outcome(null, mem, o.jobRunning() ? PolicyState.PRUNING : PolicyState.OVER_SLO);
            }
            if (mem.overWindows() < s.breachWindows()) {
                return new Outcome(null, mem, o.jobRunning() ? PolicyState.PRUNING : PolicyState.AT_FLOOR);
            }
            if (o.jobRunning()) {
                return new Outcome(null, mem, PolicyState.PRUNING);
            }
            if (!s.repruneEnabled() || nowMs - m.lastPruneMs() < s.pruneCooldownS() * 1000) {
                return new Outcome(null, mem, PolicyState.AT_FLOOR);
            }
            String where = noRoom ? "with no room to adapt (keep floor = ceiling " + fmt2(floor) + ")"
                    : "with the workers at the keep floor " + fmt2(floor) + " in " + fmt0(100 * share)
                            + "% of their batches (" + load.atFloorSource() + ")";
            String why = "p95 " + fmt0(st.p95Ms()) + " ms > SLO " + fmt0(s.sloMs()) + " ms for " + mem.overWindows()
                    + " windows " + where + " (" + o.activeVersion() + ", " + st.predictions()
                    + " predictions in the last " + fmt0(s.windowS()) + " s" + (q == null ? ""
                    : ", " + q.describe(o.activeVersion(), s)) + ")";
            Target t = target(s, st, load);
            String hint = load == null || load.workersNeeded() == null ? ""
                    : "; " + load.workersNeeded() + " worker(s) would meet the arrival at the floor ("
                            + load.workersAtFloor() + " measured)";
            return new Outcome(Decision.of(now, Rule.REPRUNE, Action.START_PRUNE,
                    why + ": re-prune " + o.activeVersion() + " to " + fmt2(t.ratio()) + " of its FLOPs (" + t.how()
                            + ", within [" + s.pruneMinFlopsRatio() + ", " + s.pruneMaxFlopsRatio() + "])" + hint,
                    ACTOR).withVersion(o.activeVersion()).withFlopsRatio(t.ratio()), mem.pruneStarted(nowMs),
                    PolicyState.PRUNING);
        }
        PolicyState state = !latencyKnown ? PolicyState.NO_DATA : o.jobRunning() ? PolicyState.PRUNING
                : PolicyState.STEADY;
        return new Outcome(null, mem, state);
    }

    /** A re-prune's FLOPs target and how it was reached. */
    private record Target(double ratio, String how) {}

    /**
     * FLOPs scale inversely with throughput: when the workers measure their capacity at the floor and the arrival
     * exceeds it, the new version needs {@code arrival / capacity} times the throughput, so
     * {@code prune_safety x capacity / arrival} of the FLOPs. When the capacity suffices, it is the time per batch
     * that misses the SLO, and {@code prune_safety x SLO / p95} sizes it; likewise when no worker reports capacity.
     */
    private static Target target(PolicySettings s, VersionStats st, FleetLoad load) {
        Double cap = load == null ? null : load.capacityAtFloorPerS();
        double arrival = load == null ? 0 : load.arrivalPerS();
        if (cap != null && cap > 0 && arrival > cap) {
            return new Target(round(clamp(s.pruneSafety() * cap / arrival, s.pruneMinFlopsRatio(),
                    s.pruneMaxFlopsRatio())), s.pruneSafety() + " x capacity at the floor / arrival = "
                    + s.pruneSafety() + " x " + fmt1(cap) + " / " + fmt1(arrival) + " images/s");
        }
        String note = cap != null && cap > 0 && arrival > 0 ? "; the arrival " + fmt1(arrival)
                + " images/s is within the capacity " + fmt1(cap) + " images/s at the floor, so the time per batch"
                + " misses the SLO" : "; no worker reports its arrival and capacity";
        return new Target(round(clamp(s.pruneSafety() * s.sloMs() / st.p95Ms(), s.pruneMinFlopsRatio(),
                s.pruneMaxFlopsRatio())), s.pruneSafety() + " x SLO / p95" + note);
    }

    /**
     * What vit.control should say for {@code after}: fixed mode drops any bounds (the starting ratio becomes the fixed
     * one); adaptive mode sets the policy's ceiling and SLO and its floor, keeping a floor that rule 3 raised (within
     * the new bounds) unless {@code keep_floor} or the mode changed from {@code before} (null: nothing known before,
     * so the policy's floor). Returns {@code c} itself when it is in line already.
     */
    public static ControlMessage aligned(PolicySettings before, PolicySettings after, ControlMessage c) {
        if (after.keepMode() == KeepMode.FIXED) {
            return c.adaptive() ? c.withFixedKeep(c.keepRatio()) : c;
        }
        boolean reset = before == null || before.keepMode() != after.keepMode()
                || before.keepFloor() != after.keepFloor() || !c.adaptive();
        double ceiling = after.keepCeiling();
        double floor = reset ? after.keepFloor() : clamp(c.keepFloor(), after.keepFloor(), ceiling);
        double start = c.adaptive() ? clamp(c.keepRatio(), floor, ceiling) : ceiling;
        ControlMessage next = c.withBounds(floor, ceiling, after.sloMs()).withKeep(start);
        return next.equals(c) ? c : next;
    }

    /** How vit.control steers the keep ratio, in words: "fixed keep ratio 0.90", "keep ratio within [...] ...". */
    public static String describe(ControlMessage c) {
        return c.adaptive() ? "keep ratio within [" + fmt2(c.keepFloor()) + ", " + fmt2(c.keepCeiling())
                + "] chosen by the workers for p95 " + fmt0(c.sloMs()) + " ms" : "fixed keep ratio " + fmt2(c.keepRatio());
    }

    /**
     * Rule 5: compare a canary's labelled accuracy with the active version's over the same period (since the canary
     * loaded everywhere). Null while there are not yet {@code canary_samples} labelled predictions of each and the
     * comparison has not timed out.
     */
    public static Decision judgeCanary(PolicySettings s, String canary, String active, LabelledCount c,
            LabelledCount a, long elapsedMs, Instant now) {
        if (c.labelled() >= s.canarySamples() && a.labelled() >= s.canarySamples()) {
            double ca = c.accuracy();
            double aa = a.accuracy();
            String figures = "canary " + canary + " accuracy " + fmt4(ca) + " (" + c.labelled() + " labelled) vs active "
                    + active + " " + fmt4(aa) + " (" + a.labelled() + " labelled), margin " + s.canaryMargin();
            if (ca >= aa - s.canaryMargin() - EPS) {
                return Decision.of(now, Rule.CANARY, Action.PROMOTE_CANARY, figures + ": not worse, promote "
                        + canary, "rollout").withVersion(canary);
            }
            return Decision.of(now, Rule.CANARY, Action.ROLLBACK_CANARY, figures + ": worse by " + fmt4(aa - ca)
                    + ", roll back to " + active, "rollout").withVersion(canary);
        }
        if (elapsedMs > s.canaryCompareTimeoutS() * 1000) {
            return Decision.of(now, Rule.CANARY, Action.ROLLBACK_CANARY, "only " + c.labelled() + " labelled predictions"
                    + " of canary " + canary + " and " + a.labelled() + " of active " + active + " within "
                    + fmt0(s.canaryCompareTimeoutS()) + " s (need " + s.canarySamples() + " of each): roll back to "
                    + active, "rollout").withVersion(canary);
        }
        return null;
    }

    /** Labelled accuracy when the window has enough labels, else dense-teacher agreement when enough was sampled. */
    private record Quality(String what, double value, double floor, long n) {
        boolean low() {
            return value < floor;
        }

        String describe(String version, PolicySettings s) {
            return what + " " + fmt4(value) + (low() ? " < " : " >= ") + "floor " + floor + " (" + version + ", " + n
                    + (what.equals("accuracy") ? " labelled" : " teacher-scored") + " in the last " + fmt0(s.windowS())
                    + " s)";
        }
    }

    private static Quality quality(PolicySettings s, VersionStats st) {
        if (st == null) {
            return null;
        }
        if (st.labelled() >= s.minLabelled()) {
            return new Quality("accuracy", st.accuracy(), s.accuracyFloor(), st.labelled());
        }
        if (st.teacherSampled() >= s.minLabelled()) {
            return new Quality("dense-teacher agreement", st.agreement(), s.agreementFloor(), st.teacherSampled());
        }
        return null;
    }

    private static double clamp(double v, double lo, double hi) {
        return Math.max(lo, Math.min(hi, v));
    }

    /** Keep ratios and FLOPs targets to 4 decimals, so 1.0 - 0.1 - 0.1 is 0.8. */
    static double round(double v) {
        return Math.round(v * 10_000) / 10_000.0;
    }

    static String fmt0(double v) {
        return String.format(Locale.ROOT, "%.0f", v);
    }

    static String fmt1(double v) {
        return String.format(Locale.ROOT, "%.1f", v);
    }

    static String fmt2(double v) {
        return String.format(Locale.ROOT, "%.2f", v);
    }

    static String fmt4(double v) {
        return String.format(Locale.ROOT, "%.4f", v);
    }
}
