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
 */
public record Observation(String activeVersion, String parentVersion, double keepRatio, VersionStats active,
        boolean jobRunning, boolean rolloutActive) {}
