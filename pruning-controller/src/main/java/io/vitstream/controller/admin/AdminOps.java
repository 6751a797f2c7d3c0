package io.vitstream.controller.admin;

import com.fasterxml.jackson.databind.JsonNode;
import io.vitstream.controller.error.ControllerException;
import io.vitstream.controller.job.JobStatus;
import io.vitstream.controller.policy.Decision;
import io.vitstream.controller.policy.PolicySettings;
import java.util.List;

/**
 * What the admin API can ask of the controller. Reads return views; every mutation is validated
 * ({@link IllegalArgumentException}), may be refused ({@link ControllerException}), and is audited as a decision of
 * rule {@code admin} naming {@code actor}.
 */
public interface AdminOps {
    Views.Status status();

    List<Views.Version> versions();

    List<Decision> decisions();

    PolicySettings policy();

    /** Merges {@code patch} (snake_case fields) into the policy. */
    PolicySettings setPolicy(JsonNode patch, String actor);

    /** Starts a re-prune of the active version to {@code flopsRatio} of its FLOPs. */
    JobStatus prune(double flopsRatio, String actor);

    /** Makes a published version active (a rollout in progress is rolled back first). */
    Views.Control activate(String version, String actor);

    /** Rolls the canary back if one is out, else makes the active version's parent active. */
    Views.Control rollback(String actor);

    /** Pins one fixed keep ratio for every batch: fixed mode ({@code keep_mode} fixed) from then on. */
    Views.Control setKeepRatio(double keepRatio, String actor);

    /**
     * Sets the bounds the workers choose each batch's keep ratio within (adaptive mode from then on), either or both;
     * the SLO is the policy's.
     */
    Views.Control setKeepBounds(Double keepFloor, Double keepCeiling, String actor);
}
