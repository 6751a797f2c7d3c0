package io.vitstream.controller.rollout;

import io.vitstream.controller.error.ControllerException;
import io.vitstream.controller.policy.Action;
import io.vitstream.controller.policy.Decision;
import io.vitstream.controller.policy.DecisionLog;
import io.vitstream.controller.policy.Policy;
import io.vitstream.controller.policy.PolicySettings;
import io.vitstream.controller.policy.Rule;
import io.vitstream.controller.stream.MetricsView.LabelledCount;
import io.vitstream.controller.stream.MetricsView;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.WorkerStatus;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Rule 5 carried out: a new version goes to a canary share of batches, every live worker must report it loaded
 * ({@code canary_load_timeout_s}, else failed), then its labelled accuracy is compared with the active version's over
 * the same period ({@link Policy#judgeCanary}) and it is promoted or rolled back. Driven by {@link #step()} from the
 * controller's loop thread; every transition is a decision and is handed to {@code persist} (durable state).
 */
public final class Rollout {
    public static final String ACTOR = "rollout";

    private final ControlPlane plane;
    private final MetricsView metrics;
    private final DecisionLog decisions;
    private final Supplier<PolicySettings> settings;
    private final Clock clock;
    private final Consumer<RolloutState> persist;
    private volatile RolloutState state = RolloutState.IDLE;

    public Rollout(ControlPlane plane, MetricsView metrics, DecisionLog decisions, Supplier<PolicySettings> settings,
            Clock clock, Consumer<RolloutState> persist) {
        this.plane = plane;
        this.metrics = metrics;
        this.decisions = decisions;
        this.settings = settings;
        this.clock = clock;
        this.persist = persist;
    }

    public RolloutState state() {
        return state;
    }

    public boolean inProgress() {
        return state.phase().inProgress();
    }

    /**
     * Sets {@code version} (already on vit.models) as canary next to the active version.
     *
     * @param why what produced it (the job, an operator), kept as the rollout's reason until it ends
     */
    public void begin(String version, String why) {
        if (inProgress()) {
            throw ControllerException.conflict("a rollout of " + state.version() + " is in progress");
        }
        ControlMessage c = plane.control();
        if (c == null) {
            throw ControllerException.conflict("no active version on vit.control to compare a canary with");
        }
        if (version.equals(c.activeVersion())) {
            throw ControllerException.conflict(version + " is already the active version");
        }
        double share = settings.get().canaryShare();
        plane.setControl(c.withCanary(version, share));
        Instant now = clock.instant();
        change(new RolloutState(RolloutPhase.LOADING, version, c.activeVersion(), share, now.toString(), null, null,
                why, List.of(), null, null, null, null));
        decisions.record(Decision.of(now, Rule.CANARY, Action.START_CANARY, version + " to a canary share of "
                + share + " next to " + c.activeVersion() + " (" + why + ")", ACTOR).withVersion(version));
    }

    /** Continues after a restart: the stored rollout if vit.control still names its canary, else a fresh one. */
    public void resume(RolloutState stored) {
        ControlMessage c = plane.control();
        if (c == null || c.canaryVersion() == null) {
            if (stored != null && stored.phase().inProgress()) {
                change(stored.phase(RolloutPhase.FAILED, clock.instant().toString(), "vit.control no longer names "
                        + stored.version() + " as canary (changed while the controller was away)"));
            } else if (stored != null) {
                state = stored;
            }
            return;
        }
        if (stored != null && stored.phase().inProgress() && c.canaryVersion().equals(stored.version())) {
            state = stored;
        } else {
            Instant now = clock.instant();
            state = new RolloutState(RolloutPhase.LOADING, c.canaryVersion(), c.activeVersion(),
                    c.canaryShare() == null ? 0.0 : c.canaryShare(), now.toString(), null, null,
                    "canary found on vit.control at start", List.of(), null, null, null, null);
        }
        persist.accept(state);
    }

    /** One step of the state machine; cheap when idle. */
    public void step() {
        RolloutState s = state;
        if (!s.phase().inProgress()) {
            return;
        }
        PolicySettings p = settings.get();
        Instant now = clock.instant();
        ControlMessage c = plane.control();
        if (c == null || !s.version().equals(c.canaryVersion())) {
            finish(s, RolloutPhase.FAILED, now, Action.CANARY_FAILED, Rule.CANARY, ACTOR, "vit.control no longer"
                    + " names " + s.version() + " as canary (changed outside the rollout)", false);
            return;
        }
        if (s.phase() == RolloutPhase.LOADING) {
            Map<String, WorkerStatus> live = plane.liveWorkers();
            List<String> pending = new ArrayList<>();
            for (Map.Entry<String, WorkerStatus> e : new TreeMap<>(live).entrySet()) {
                WorkerStatus w = e.getValue();
                String refusal = refusal(w, s.version());
                if (refusal != null) {
                    finish(s, RolloutPhase.FAILED, now, Action.CANARY_FAILED, Rule.CANARY, ACTOR, "worker "
                            + e.getKey() + " refused " + s.version() + ": " + refusal + "; canary removed", true);
                    return;
                }
                if (!s.version().equals(w.canaryVersion()) && !s.version().equals(w.modelVersion())) {
                    pending.add(e.getKey());
                }
            }
            if (!live.isEmpty() && pending.isEmpty()) {
                change(s.loaded(now.toString()));
                return;
            }
            long elapsed = now.toEpochMilli() - Instant.parse(s.startedAt()).toEpochMilli();
            if (elapsed > p.canaryLoadTimeoutS() * 1000) {
                finish(s, RolloutPhase.FAILED, now, Action.CANARY_FAILED, Rule.CANARY, ACTOR, s.version()
                        + " not loaded within " + (long) p.canaryLoadTimeoutS() + " s by "
                        + (live.isEmpty() ? "any worker (none is live)" : "worker(s) " + String.join(", ", pending))
                        + "; canary removed", true);
                return;
            }
            if (!pending.equals(s.pendingWorkers())) {
                state = s.pending(live.isEmpty() ? List.of() : pending);
            }
            return;
        }
        Instant since = Instant.parse(s.loadedAt());
        LabelledCount cc = metrics.labelledSince(s.version(), since);
        LabelledCount ac = metrics.labelledSince(s.activeVersion(), since);
        state = s = s.counts(cc.labelled(), cc.correct(), ac.labelled(), ac.correct());
        Decision verdict = Policy.judgeCanary(p, s.version(), s.activeVersion(), cc, ac,
                now.toEpochMilli() - since.toEpochMilli(), now);
        if (verdict == null) {
            return;
        }
        if (verdict.action() == Action.PROMOTE_CANARY) {
            plane.setControl(c.withActive(s.version()));
            state = s.phase(RolloutPhase.PROMOTED, now.toString(), verdict.reason());
        } else {
            plane.setControl(c.withActive(c.activeVersion()));
            state = s.phase(RolloutPhase.ROLLED_BACK, now.toString(), verdict.reason());
        }
        persist.accept(state);
        decisions.record(verdict);
    }

    /** An operator's rollback of the canary in progress. */
    public void abort(String actor, String why) {
        RolloutState s = state;
        if (!s.phase().inProgress()) {
            throw ControllerException.conflict("no rollout in progress");
        }
        finish(s, RolloutPhase.ROLLED_BACK, clock.instant(), Action.ROLLBACK_CANARY, Rule.ADMIN, actor,
                why + ": canary " + s.version() + " removed, " + s.activeVersion() + " serves everything", true);
    }

    private void finish(RolloutState s, RolloutPhase phase, Instant now, Action action, Rule rule, String actor,
            String why, boolean removeCanary) {
        if (removeCanary) {
            ControlMessage c = plane.control();
            if (c != null && s.version().equals(c.canaryVersion())) {
                plane.setControl(c.withActive(c.activeVersion()));
            }
        }
        change(s.phase(phase, now.toString(), why));
        decisions.record(Decision.of(now, rule, action, why, actor).withVersion(s.version()));
    }

    private void change(RolloutState next) {
        state = next;
        persist.accept(next);
    }

    /** The reason a worker gave for refusing {@code version}, or null. Entries read {@code "<version>: <reason>"}. */
    private static String refusal(WorkerStatus w, String version) {
        if (w.refusedVersions() == null) {
            return null;
        }
        for (String r : w.refusedVersions()) {
            if (r.startsWith(version + ": ")) {
                return r.substring(version.length() + 2);
            }
        }
        return null;
    }
}
