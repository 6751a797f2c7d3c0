package io.vitstream.controller;

import io.vitstream.controller.error.ControllerException;
import io.vitstream.controller.job.JobStatus;
import io.vitstream.controller.policy.Action;
import io.vitstream.controller.policy.Decision;
import io.vitstream.controller.policy.DecisionLog;
import io.vitstream.controller.policy.Policy;
import io.vitstream.controller.policy.PolicySettings;
import io.vitstream.controller.policy.Rule;
import io.vitstream.controller.rollout.ControlPlane;
import io.vitstream.kafka.ControlMessage;
import java.time.Clock;

/**
 * Carries out what the rules decide, on the loop thread: a new keep ratio or floor on vit.control, a re-prune, a
 * rollback to the parent; and brings vit.control in line with the policy's keep mode, bounds and SLO. A decision is
 * recorded once it has been carried out; one that cannot be (no re-prune possible) is recorded as a hold saying why.
 */
final class PolicyActuator {
    /** Starts a re-prune ({@link RepruneOrchestrator#start}). */
    @FunctionalInterface
    interface Pruner {
        JobStatus start(String parent, double ratio, String reason);
    }

    /** Who brings vit.control in line at start: the settings the controller was started with. */
    static final String STARTUP = "startup";

    private final ControlPlane plane;
    private final Pruner pruner;
    private final DecisionLog decisions;
    private final VersionNotes notes;
    private final Clock clock;

    PolicyActuator(ControlPlane plane, Pruner pruner, DecisionLog decisions, VersionNotes notes, Clock clock) {
        this.plane = plane;
        this.pruner = pruner;
        this.decisions = decisions;
        this.notes = notes;
        this.clock = clock;
    }

    /**
     * Carries out {@code d}, taken on {@code c}. Throws when vit.control cannot be written: the caller keeps its
     * memory, so the rule tries again next window.
     */
    void act(Decision d, ControlMessage c) {
        switch (d.action()) {
            case LOWER_KEEP_RATIO, RAISE_KEEP_RATIO -> {
                plane.setControl(c.withKeep(d.keepRatio()));
                decisions.record(d);
            }
            case RAISE_KEEP_FLOOR -> {
                plane.setControl(c.withBounds(d.keepFloor(), d.keepCeiling(), c.sloMs()).withKeep(c.keepRatio()));
                decisions.record(d);
            }
            case START_PRUNE -> {
                try {
                    pruner.start(d.version(), d.flopsRatio(), d.reason());
                    decisions.record(d);
                } catch (ControllerException e) {
                    decisions.record(Decision.of(clock.instant(), Rule.REPRUNE, Action.HOLD, d.reason()
                            + "; not started: " + e.getMessage(), Policy.ACTOR).withVersion(d.version()));
                }
            }
            case ROLLBACK_TO_PARENT -> {
                ControlMessage parent = c.withActive(d.version());
                plane.setControl(d.keepFloor() != null && c.adaptive()
                        ? parent.withBounds(d.keepFloor(), d.keepCeiling(), c.sloMs())
                        : parent.withKeep(d.keepRatio() == null ? c.keepRatio() : d.keepRatio()));
                notes.note(c.activeVersion(), "rolled_back", d.reason());
                notes.note(d.version(), "active", "rolled back to from " + c.activeVersion());
                decisions.record(d);
            }
            default -> decisions.record(d);
        }
    }

    /**
     * Writes what vit.control should say for {@code after} (changed from {@code before}; null: not known), unless it
     * says so already or nothing is active yet. Returns the change in words ({@code "fixed keep ratio 0.90 -> ..."}),
     * or null when nothing was written.
     */
    String align(PolicySettings before, PolicySettings after) {
        ControlMessage c = plane.control();
        if (c == null) {
            return null;
        }
        ControlMessage next = Policy.aligned(before, after, c);
        if (next.equals(c)) {
            return null;
        }
        plane.setControl(next);
        return Policy.describe(c) + " -> " + Policy.describe(next);
    }

    /**
     * At start, with the policy enabled: vit.control in line with the settings the controller was started with,
     * audited as a decision when it changed anything.
     *
     * @param previous the settings the previous run left (null on a first start)
     */
    void alignAtStart(PolicySettings previous, PolicySettings settings) {
        if (!settings.enabled()) {
            return; // paused: observing only, vit.control stays as the operator left it
        }
        String change = align(previous, settings);
        if (change != null) {
            ControlMessage c = plane.control();
            Decision d = Decision.of(clock.instant(), Rule.ADMIN, Action.ALIGN_CONTROL, "vit.control brought in line"
                    + " with the policy (keep_mode " + settings.keepMode().id() + "): " + change, STARTUP)
                    .withVersion(c.activeVersion());
            decisions.record(c.adaptive() ? d.withBounds(c.keepFloor(), c.keepCeiling()) : d.withKeepRatio(c.keepRatio()));
        }
    }
}
