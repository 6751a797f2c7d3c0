package io.vitstream.controller.rollout;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/** Where a rollout stands: the {@code state} tag of {@code controller.rollout.state}. */
public enum RolloutPhase {
    /** No rollout yet. */
    IDLE,
    /** The canary is set in vit.control; waiting for every live worker to report it loaded. */
    LOADING,
    /** Loaded everywhere; counting labelled predictions of canary and active version. */
    COMPARING,
    /** The canary became the active version. */
    PROMOTED,
    /** The canary was worse (or not enough evidence in time): removed, the active version serves everything. */
    ROLLED_BACK,
    /** The canary never loaded (refused by a worker, or timed out); removed. */
    FAILED;

    public boolean inProgress() {
        return this == LOADING || this == COMPARING;
    }

    @JsonValue
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    @JsonCreator
    public static RolloutPhase parse(String id) {
        return valueOf(id.trim().toUpperCase(Locale.ROOT));
    }
}
