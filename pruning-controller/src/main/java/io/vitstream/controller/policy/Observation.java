package io.vitstream.controller.policy;

import io.vitstream.controller.stream.MetricsView.VersionStats;

/**
 * What the policy sees at one evaluation.
 *
 * @param activeVersion the active version (vit.control)
 * @param parentVersion its parent, when the parent is published on vit.models (a rollback target), else null
 * @param keepRatio the keep ratio now (vit.control)
 * @param active the active version's figures over the last window, or null when it had no predictions
 * @param jobRunning a prune job runs (rule 2 waits for it)
 * @param rolloutActive a canary is being loaded or compared (rules 1-4 wait: a change would confound the comparison)
 * @param keepFloor the floor on vit.control in adaptive mode, null in fixed mode
 * @param keepCeiling the ceiling on vit.control in adaptive mode, null in fixed mode
 * @param load what the live workers report of their load and capacity, or null when none reports it
 */
public record Observation(String activeVersion, String parentVersion, double keepRatio, VersionStats active,
        boolean jobRunning, boolean rolloutActive, Double keepFloor, Double keepCeiling, FleetLoad load) {

    /** Fixed mode (one keep ratio for every batch), without load figures. */
    public Observation(String activeVersion, String parentVersion, double keepRatio, VersionStats active,
            boolean jobRunning, boolean rolloutActive) {
        this(activeVersion, parentVersion, keepRatio, active, jobRunning, rolloutActive, null, null, null);
    }

    /** Whether the workers choose the keep ratio within bounds (the rules then move the floor, not the ratio). */
    public boolean adaptive() {
        return keepFloor != null && keepCeiling != null;
    }
}
