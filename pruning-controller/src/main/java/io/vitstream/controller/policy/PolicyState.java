package io.vitstream.controller.policy;

import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/** Where the policy stands after an evaluation: the {@code state} tag of {@code controller.policy.state}. */
public enum PolicyState {
    /** Policy disabled: observing only. */
    PAUSED,
    /** Too few predictions of the active version in the window to judge latency. */
    NO_DATA,
    /** Latency within the SLO, accuracy above its floor, nothing to do. */
    STEADY,
    /** p95 above the SLO (counting windows, stepping the keep ratio down, or waiting out a cool-down). */
    OVER_SLO,
    /** p95 above the SLO at the keep-ratio floor, and no re-prune possible now. */
    AT_FLOOR,
    /** Accuracy (or agreement) below its floor. */
    UNDER_ACCURACY,
    /** Lasting headroom under the SLO: stepping the keep ratio back up. */
    HEADROOM,
    /** A prune job runs. */
    PRUNING,
    /** A canary is being loaded or compared; rules 1-4 wait. */
    ROLLING_OUT;

    @JsonValue
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }
}
