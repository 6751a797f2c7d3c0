package io.vitstream.controller.policy;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/** What a decision does. Ids are lowercase snake_case in JSON. */
public enum Action {
    /** Fixed mode: a lower fixed keep ratio. */
    LOWER_KEEP_RATIO,
    /** Fixed mode: a higher fixed keep ratio. */
    RAISE_KEEP_RATIO,
    /** Adaptive mode: the lowest ratio the workers may choose goes up (rule 3), the ceiling with it if need be. */
    RAISE_KEEP_FLOOR,
    /** Start a structured re-prune of the active version. */
    START_PRUNE,
    /** Make the active version's parent active again (rule 3 at keep ratio 1.0, or an operator's rollback). */
    ROLLBACK_TO_PARENT,
    /** Nothing can be done by the rules (for example: accuracy low at 1.0 and no parent); said once per cool-down. */
    HOLD,
    /** A prune job ended (its result, or why it failed). */
    PRUNE_FINISHED,
    PRUNE_FAILED,
    /** A new version was published and set as canary. */
    START_CANARY,
    PROMOTE_CANARY,
    ROLLBACK_CANARY,
    /** The canary never loaded on every worker (refused, or timed out). */
    CANARY_FAILED,
    // Operator actions (rule ADMIN).
    /** A fixed keep ratio pinned by an operator (fixed mode from then on). */
    SET_KEEP_RATIO,
    /** Adaptive bounds set by an operator (adaptive mode from then on). */
    SET_KEEP_BOUNDS,
    SET_POLICY,
    /** vit.control brought in line with the policy's keep mode, bounds and SLO when the controller starts. */
    ALIGN_CONTROL,
    ACTIVATE;

    @JsonValue
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    @JsonCreator
    public static Action parse(String id) {
        return valueOf(id.trim().toUpperCase(Locale.ROOT));
    }
}
