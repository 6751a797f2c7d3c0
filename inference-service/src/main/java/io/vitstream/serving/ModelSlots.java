package io.vitstream.serving;

import io.vitstream.kafka.ControlMessage;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker's loaded models: the active version, the canary with its share of batches, the dense teacher, and
 * versions loaded but not serving. Changes come from the {@link ModelFollower}, which loads and warms models off the
 * loop thread; they are applied between batches, with no batch in the lanes, so a model is never closed under a
 * forward pass. Owned by the loop thread.
 */
final class ModelSlots implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ModelSlots.class);

    private final String workerId;
    private final ModelFollower follower;
    private final WorkerMetrics metrics;
    private final Map<String, ServingModel> models = new HashMap<>();
    private final EvenShare canaryPicks = new EvenShare();
    private ServingModel model;
    private ServingModel canary;
    private double canaryShare;
    private ControlMessage lastApplied;
    /** The models held, for the follower's thread to build a new keep ratio's graphs in before it is served. */
    private volatile List<ServingModel> held = List.of();
    // Scores sampled inputs (null when teacher sampling is off); not one of the served versions.
    private final ServingModel teacher;

    /** What the follower has for the worker: models newly loaded (owned by the caller now) and control's state. */
    record Change(List<ServingModel> fresh, ControlMessage desired) {}

    /** Slots serving {@code initial} (or nothing until control names a version) next to {@code teacher} (or null). */
    ModelSlots(String workerId, ModelFollower follower, WorkerMetrics metrics, ServingModel initial,
            ServingModel teacher) {
        this.workerId = workerId;
        this.follower = follower;
        this.metrics = metrics;
        this.teacher = teacher;
        if (initial != null) {
            install(initial);
            follower.held(models.keySet(), initial.version(), null);
            metrics.serving(initial.version(), null);
        }
    }

    /** The active model, or null before the first one is loaded. */
    ServingModel active() {
        return model;
    }

    /** The dense teacher, or null when sampling is off. */
    ServingModel teacher() {
        return teacher;
    }

    /** The model for the next batch: the canary for its share of batches (spread evenly, no randomness), else active. */
    ServingModel next() {
        if (canary != null && canaryPicks.next(canaryShare)) {
            return canary;
        }
        return model;
    }

    /**
     * Takes what the follower has loaded since the last call; null when neither that nor control's desired state
     * changed. The caller applies a change with {@link #apply} once no batch is in the lanes.
     */
    Change pendingChange() {
        List<ServingModel> fresh = follower.takeReady();
        ControlMessage d = follower.desired();
        if (fresh.isEmpty() && Objects.equals(d, lastApplied)) {
            return null;
        }
        return new Change(fresh, d);
    }

    /**
     * Holds the change's fresh models, makes control's active version (and canary) current once loaded, and closes
     * versions nobody wants any more. A version not loaded yet, or refused, leaves the current one serving. Call only
     * with no batch in the lanes.
     */
    void apply(Change change) {
        ControlMessage d = change.desired();
        lastApplied = d;
        for (ServingModel m : change.fresh()) {
            ServingModel old = models.put(m.version(), m);
            if (old != null && old != model && old != canary) {
                old.close();
            }
        }
        if (d != null) {
            ServingModel active = models.get(d.activeVersion());
            if (active != null && active != model) {
                String was = model == null ? "nothing" : model.version();
                install(active);
                metrics.swapped(active.version());
                log.info("worker {}: now serving {} (was {})", workerId, active.version(), was);
            }
            List<String> wanted = ModelFollower.wanted(d);
            canary = wanted.size() > 1 ? models.get(wanted.get(1)) : null;
            canaryShare = canary == null ? 0 : d.canaryShare();
        }
        for (var it = models.entrySet().iterator(); it.hasNext(); ) {
            ServingModel m = it.next().getValue();
            if (m != model && m != canary && (d == null || !ModelFollower.wanted(d).contains(m.version()))) {
                m.close(); // only the loop thread runs models, and no batch is in flight here
                it.remove();
            }
        }
        held = List.copyOf(models.values());
        follower.held(models.keySet(), model == null ? null : model.version(), canary == null ? null : canary.version());
        metrics.serving(model == null ? null : model.version(), canary == null ? null : canary.version());
    }

    private void install(ServingModel m) {
        models.put(m.version(), m);
        held = List.copyOf(models.values());
        model = m;
        metrics.setReady(true);
    }

    /**
     * Builds and warms {@code keepRatio}'s graphs in every model held, on the calling thread (the follower's, before it
     * hands the new ratio to the loop), so that the loop's next batch runs at it without waiting. A model the loop
     * closes meanwhile fails here harmlessly.
     */
    void prepareKeepRatio(double keepRatio) {
        for (ServingModel m : held) {
            try {
                m.prepareKeepRatio(keepRatio);
            } catch (RuntimeException e) {
                log.debug("worker {}: keep ratio {} not prepared on {}: {}", workerId, keepRatio, m.version(),
                        e.getMessage());
            }
        }
    }

    /** Closes every model, the teacher too (call once the lanes have stopped). */
    @Override
    public void close() {
        metrics.setReady(false);
        metrics.serving(null, null);
        models.values().forEach(ServingModel::close);
        models.clear();
        held = List.of();
        if (teacher != null) {
            teacher.close();
        }
        model = null;
        canary = null;
    }
}
