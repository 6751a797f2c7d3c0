package io.vitstream.controller.policy;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/**
 * How the keep ratio is steered ({@code keep_mode}). {@link #ADAPTIVE}: the controller writes bounds and the SLO on
 * vit.control and each worker's fast loop picks every batch's ratio within them; the controller's rules move the floor
 * and re-prune. {@link #FIXED}: one ratio for every batch, stepped by the controller's rules 1 and 4.
 */
public enum KeepMode {
    ADAPTIVE,
    FIXED;

    @JsonValue
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The mode named {@code id}, or {@link IllegalArgumentException} naming the setting. */
    @JsonCreator
    public static KeepMode parse(String id) {
        for (KeepMode m : values()) {
            if (m.id().equals(id == null ? null : id.trim().toLowerCase(Locale.ROOT))) {
                return m;
            }
        }
        throw new IllegalArgumentException("keep_mode must be adaptive or fixed, got \"" + id + "\"");
    }
}
