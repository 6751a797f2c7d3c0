package io.vitstream.controller.policy;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/**
 * Why a decision was taken: one of the five rules of the controller's loop (DESIGN.md), or an operator's action
 * through the admin API. The id is the {@code rule} tag of {@code controller.decisions}.
 */
public enum Rule {
    /**
     * 1: fixed mode: p95 latency above the SLO for a few windows: lower the keep ratio a step, down to its floor.
     * (Adaptive mode: the workers' fast loop does this per batch.)
     */
    LATENCY(1),
    /**
     * 2: still above the SLO at the keep-ratio floor (fixed: the ratio is at its floor; adaptive: the workers sit at
     * the floor): structured re-prune to a FLOPs target.
     */
    REPRUNE(2),
    /**
     * 3: accuracy (or dense-teacher agreement) under its floor: raise the keep ratio (adaptive: the floor); at 1.0,
     * roll back.
     */
    ACCURACY(3),
    /** 4: fixed mode: lasting headroom under the SLO: raise the keep ratio back toward 1.0. */
    HEADROOM(4),
    /** 5: a new version goes to a canary share first; promoted or rolled back on labelled accuracy. */
    CANARY(5),
    /** Not a rule: an audited operator action (admin REST, or the settings the controller was started with). */
    ADMIN(0);

    private final int number;

    Rule(int number) {
        this.number = number;
    }

    /** The rule's number in DESIGN.md (0 for operator actions). */
    public int number() {
        return number;
    }

    @JsonValue
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    @JsonCreator
    public static Rule parse(String id) {
        return valueOf(id.trim().toUpperCase(Locale.ROOT));
    }
}
