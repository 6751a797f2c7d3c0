package io.vitstream.controller;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vitstream.controller.admin.AdminOps;
import io.vitstream.controller.admin.Views;
import io.vitstream.controller.error.ControllerException;
import io.vitstream.controller.job.JobStatus;
import io.vitstream.controller.policy.Action;
import io.vitstream.controller.policy.Decision;
import io.vitstream.controller.policy.DecisionLog;
import io.vitstream.controller.policy.KeepMode;
import io.vitstream.controller.policy.Policy;
import io.vitstream.controller.policy.PolicySettings;
import io.vitstream.controller.policy.Rule;
import io.vitstream.controller.rollout.ControlPlane;
import io.vitstream.controller.rollout.Rollout;
import io.vitstream.controller.rollout.RolloutPhase;
import io.vitstream.controller.rollout.RolloutState;
import io.vitstream.controller.state.ClusterView;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.Topics;
import io.vitstream.kafka.WorkerStatus;
import io.vitstream.util.Json;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * What the admin API asks of the controller ({@link AdminOps}): reads assembled from what the controller knows, and
 * mutations validated here, carried out on the loop thread ({@link LoopThread#call}) and audited as decisions of rule
 * {@code admin} naming who asked. Also the body of {@code /health}.
 */
final class AdminService implements AdminOps {
    private final LoopThread loop;
    private final ClusterView cluster;
    private final ControlPlane plane;
    private final PolicyStore policy;
    private final ControlLoop control;
    private final PolicyActuator actuator;
    private final Rollout rollout;
    private final PolicyActuator.Pruner pruner;
    private final Supplier<JobStatus> job;
    private final VersionNotes notes;
    private final DecisionLog decisions;
    private final MetricsReader metrics;
    private final long workerTimeoutMs;
    private final Clock clock;

    AdminService(LoopThread loop, ClusterView cluster, ControlPlane plane, PolicyStore policy, ControlLoop control,
            PolicyActuator actuator, Rollout rollout, PolicyActuator.Pruner pruner, Supplier<JobStatus> job,
            VersionNotes notes, DecisionLog decisions, MetricsReader metrics, long workerTimeoutMs, Clock clock) {
        this.loop = loop;
        this.cluster = cluster;
        this.plane = plane;
        this.policy = policy;
        this.control = control;
        this.actuator = actuator;
        this.rollout = rollout;
        this.pruner = pruner;
        this.job = job;
        this.notes = notes;
        this.decisions = decisions;
        this.metrics = metrics;
        this.workerTimeoutMs = workerTimeoutMs;
        this.clock = clock;
    }

    /** {@code GET /health}: degraded (HTTP 503, so orchestrators restart it) when it cannot do its job. */
    Map<String, Object> health() {
        Map<String, Object> h = new LinkedHashMap<>();
        boolean following = cluster.healthy();
        String controlProblem = plane.problem();
        h.put("status", following && !metrics.failed() && controlProblem == null ? "ok" : "degraded");
        h.put("following_topics", following);
        h.put("metrics_problem", metrics.problem());
        if (controlProblem != null) {
            h.put("control_problem", controlProblem);
        }
        return h;
    }

    // ---- reads ----

    @Override
    public Views.Status status() {
        ControlMessage c = cluster.control();
        PolicySettings s = policy.settings();
        Map<String, Views.Figures> figures = new TreeMap<>();
        metrics.recent(s.windowS()).forEach((v, st) -> figures.put(v, Views.Figures.of(st)));
        List<Views.Worker> workers = new ArrayList<>();
        long now = clock.millis();
        new TreeMap<>(cluster.workers()).forEach((id, w) -> {
            WorkerStatus st = w.status();
            long age = now - w.heartbeatMs();
            workers.add(new Views.Worker(id, age <= workerTimeoutMs && !"stopped".equals(st.health()), st.health(),
                    st.modelVersion(), st.canaryVersion(), st.keepRatio(), age / 1000.0, st.lastError(), st.load()));
        });
        RolloutState r = rollout.state();
        boolean adaptive = c != null && c.adaptive();
        return new Views.Status(clock.instant().toString(), c == null ? null : c.activeVersion(),
                c == null ? null : c.canaryVersion(), c == null ? null : c.canaryShare(),
                c == null ? null : c.keepRatio(), adaptive ? c.keepFloor() : null, adaptive ? c.keepCeiling() : null,
                s.keepMode().id(), control.state().id(), s.enabled(), s.sloMs(), s.windowS(), figures, workers,
                control.load(), job.get(), r.phase() == RolloutPhase.IDLE ? null : r, metrics.problem());
    }

    @Override
    public List<Views.Version> versions() {
        ControlMessage c = cluster.control();
        Map<String, Integer> loaded = plane.workersByVersion();
        List<Views.Version> out = new ArrayList<>();
        cluster.versions().entrySet().stream()
                .sorted(Comparator.comparingLong(e -> e.getValue().publishedMs()))
                .forEach(e -> {
                    var m = e.getValue().manifest();
                    String v = e.getKey();
                    String role = c == null ? null : v.equals(c.activeVersion()) ? "active"
                            : v.equals(c.canaryVersion()) ? "canary" : null;
                    Views.VersionNote n = notes.get(v);
                    out.add(new Views.Version(v, m.parentVersion(), role, m.flopsPerImage(), m.parameters(),
                            m.testAccuracy(), m.validationAccuracy(), m.createdAt(),
                            Instant.ofEpochMilli(e.getValue().publishedMs()).toString(), e.getValue().signed(),
                            loaded.getOrDefault(v, 0), n == null ? null : n.status(), n == null ? null : n.reason(),
                            n == null ? null : n.time()));
                });
        return out;
    }

    @Override
    public List<Decision> decisions() {
        return decisions.history();
    }

    @Override
    public PolicySettings policy() {
        return policy.settings();
    }

    // ---- mutations ----

    /**
     * Merges the patch; with the policy enabled, vit.control is brought in line with it first (a failed write
     * changes nothing), and the one audit says both.
     */
    @Override
    public PolicySettings setPolicy(JsonNode patch, String actor) {
        return loop.call(() -> {
            PolicySettings before = policy.settings();
            PolicySettings after = before.merge(patch);
            List<String> changes = changes(before, after);
            String aligned = after.enabled() ? actuator.align(before, after) : null;
            policy.set(after);
            control.policyChanged(before, after);
            String reason = changes.isEmpty() ? "policy set, unchanged" : "policy changed: " + String.join(", ",
                    changes);
            audit(Action.SET_POLICY, actor, aligned == null ? reason : reason + "; vit.control: " + aligned, null,
                    null);
            return after;
        });
    }

    private static List<String> changes(PolicySettings before, PolicySettings after) {
        JsonNode b = Json.MAPPER.valueToTree(before);
        JsonNode a = Json.MAPPER.valueToTree(after);
        List<String> changes = new ArrayList<>();
        a.fieldNames().forEachRemaining(f -> {
            if (!a.get(f).equals(b.get(f))) {
                changes.add(f + " " + b.get(f) + " -> " + a.get(f));
            }
        });
        return changes;
    }

    @Override
    public JobStatus prune(double flopsRatio, String actor) {
        if (!(flopsRatio > 0 && flopsRatio < 1)) {
            throw new IllegalArgumentException("target_flops_ratio must be in (0, 1), got " + flopsRatio);
        }
        return loop.call(() -> {
            ControlMessage c = requireControl();
            String reason = "operator " + actor + " asked for " + c.activeVersion() + " at " + flopsRatio
                    + " of its FLOPs";
            JobStatus j = pruner.start(c.activeVersion(), flopsRatio, reason);
            policy.remember(policy.memory().pruneStarted(clock.millis()));
            decisions.record(Decision.of(clock.instant(), Rule.ADMIN, Action.START_PRUNE, reason + ": " + j.id()
                    + " makes " + j.newVersion(), actor).withVersion(c.activeVersion()).withFlopsRatio(flopsRatio));
            return j;
        });
    }

    @Override
    public Views.Control activate(String version, String actor) {
        return loop.call(() -> {
            if (!cluster.versions().containsKey(version)) {
                throw ControllerException.notFound("unknown version " + version + " (not published on "
                        + Topics.MODELS + ")");
            }
            if (rollout.inProgress()) {
                rollout.abort(actor, "operator activated " + version);
            }
            ControlMessage before = cluster.control();
            PolicySettings s = policy.settings();
            ControlMessage next = before != null ? before.withActive(version)
                    : s.enabled() ? Policy.aligned(null, s, ControlMessage.active(version, 1.0))
                    : ControlMessage.active(version, 1.0);
            plane.setControl(next);
            notes.note(version, "active", "activated by " + actor);
            audit(Action.ACTIVATE, actor, version + " activated" + (before == null ? ""
                    : " (was " + before.activeVersion() + ")") + " at " + Policy.describe(next), version,
                    next.keepRatio());
            return Views.Control.of(next);
        });
    }

    @Override
    public Views.Control rollback(String actor) {
        return loop.call(() -> {
            if (rollout.inProgress()) {
                rollout.abort(actor, "operator rollback");
                return Views.Control.of(requireControl());
            }
            ControlMessage c = requireControl();
            String parent = cluster.publishedParent(c.activeVersion());
            if (parent == null) {
                throw ControllerException.conflict("no canary to roll back, and " + c.activeVersion()
                        + " has no published parent to roll back to");
            }
            ControlMessage next = c.withActive(parent);
            plane.setControl(next);
            policy.remember(policy.memory().rolledBack(clock.millis()));
            notes.note(c.activeVersion(), "rolled_back", "rolled back by " + actor);
            notes.note(parent, "active", "rolled back to from " + c.activeVersion() + " by " + actor);
            audit(Action.ROLLBACK_TO_PARENT, actor, c.activeVersion() + " rolled back to its parent " + parent,
                    parent, null);
            return Views.Control.of(next);
        });
    }

    /**
     * Pins the ratio: the bounds are dropped and {@code keep_mode} becomes fixed (durably, so neither a policy change
     * nor a restart hands the choice back to the workers unasked); the rules then step it as in fixed mode, after the
     * keep cool-down.
     */
    @Override
    public Views.Control setKeepRatio(double keepRatio, String actor) {
        if (!(keepRatio > 0 && keepRatio <= 1)) {
            throw new IllegalArgumentException("keep_ratio must be in (0, 1], got " + keepRatio);
        }
        return loop.call(() -> {
            ControlMessage c = requireControl();
            ControlMessage next = c.withFixedKeep(keepRatio);
            plane.setControl(next);
            policy.remember(policy.memory().keepChanged(clock.millis()));
            PolicySettings s = policy.settings();
            String mode = "";
            if (s.keepMode() != KeepMode.FIXED) {
                policy.set(s.merge(Json.MAPPER.createObjectNode().put("keep_mode", KeepMode.FIXED.id())));
                mode = "keep_mode " + s.keepMode().id() + " -> fixed, so the workers no longer choose; ";
            }
            String from = c.adaptive() ? Policy.describe(c) : String.format(Locale.ROOT, "keep ratio %.2f",
                    c.keepRatio());
            audit(Action.SET_KEEP_RATIO, actor, String.format(Locale.ROOT, "%s -> %.2f pinned by the operator (fixed"
                    + " mode: every batch at %.2f; %sthe rules wait %.0f s before changing it; POST /keep-bounds hands"
                    + " the choice back to the workers)", from, keepRatio, keepRatio, mode, s.keepCooldownS()),
                    c.activeVersion(), keepRatio);
            return Views.Control.of(next);
        });
    }

    /**
     * Sets {@code keep_floor} and/or {@code keep_ceiling} and {@code keep_mode} adaptive in the policy, and the bounds
     * with the policy's SLO on vit.control; the operator's floor replaces one a rule raised. Either bound out of (0, 1], or a floor above the ceiling: {@link IllegalArgumentException} naming the
     * field, and nothing changes.
     */
    @Override
    public Views.Control setKeepBounds(Double keepFloor, Double keepCeiling, String actor) {
        if (keepFloor == null && keepCeiling == null) {
            throw new IllegalArgumentException("keep_floor or keep_ceiling (numbers in (0, 1]) is required");
        }
        bound("keep_floor", keepFloor);
        bound("keep_ceiling", keepCeiling);
        return loop.call(() -> {
            PolicySettings before = policy.settings();
            ObjectNode patch = Json.MAPPER.createObjectNode().put("keep_mode", KeepMode.ADAPTIVE.id());
            if (keepFloor != null) {
                patch.put("keep_floor", keepFloor);
            }
            if (keepCeiling != null) {
                patch.put("keep_ceiling", keepCeiling);
            }
            PolicySettings after;
            try {
                after = before.merge(patch);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(e.getMessage().replaceFirst("^invalid policy: ", ""), e);
            }
            ControlMessage c = requireControl();
            ControlMessage next = Policy.aligned(null, after, c);
            if (!next.equals(c)) {
                plane.setControl(next);
            }
            policy.set(after);
            control.policyChanged(before, after);
            policy.remember(policy.memory().keepChanged(clock.millis()));
            String reason = String.format(Locale.ROOT, "keep bounds [%.2f, %.2f] with p95 %.0f ms set by the operator"
                    + " (adaptive mode: the workers choose each batch's keep ratio within them); ", after.keepFloor(),
                    after.keepCeiling(), after.sloMs()) + (next.equals(c) ? "vit.control said so already"
                    : "vit.control: " + Policy.describe(c) + " -> " + Policy.describe(next));
            decisions.record(Decision.of(clock.instant(), Rule.ADMIN, Action.SET_KEEP_BOUNDS, reason, actor)
                    .withBounds(after.keepFloor(), after.keepCeiling()).withVersion(c.activeVersion()));
            return Views.Control.of(next);
        });
    }

    private static void bound(String field, Double v) {
        if (v != null && !(v > 0 && v <= 1)) {
            throw new IllegalArgumentException(field + " must be in (0, 1], got " + v);
        }
    }

    private void audit(Action action, String actor, String reason, String version, Double keep) {
        Decision d = Decision.of(clock.instant(), Rule.ADMIN, action, reason, actor);
        d = version == null ? d : d.withVersion(version);
        decisions.record(keep == null ? d : d.withKeepRatio(keep));
    }

    private ControlMessage requireControl() {
        ControlMessage c = cluster.control();
        if (c == null) {
            throw ControllerException.conflict("no active version on " + Topics.CONTROL + " yet");
        }
        return c;
    }
}
