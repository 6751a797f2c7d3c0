package io.vitstream.controller;

import io.vitstream.controller.admin.Views;
import io.vitstream.controller.rollout.RolloutState;
import io.vitstream.controller.state.ControllerTopics;
import io.vitstream.controller.state.StateStore;
import io.vitstream.controller.state.StateWriter;
import java.time.Clock;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What happened to each version (published, canary, active, rolled back, rejected ...) and why, as
 * {@code GET /versions} shows it; durable under {@code version/<v>} so a restarted controller still knows.
 */
final class VersionNotes {
    private final StateWriter writer;
    private final Clock clock;
    private final Map<String, Views.VersionNote> notes = new ConcurrentHashMap<>();

    VersionNotes(StateWriter writer, Clock clock) {
        this.writer = writer;
        this.clock = clock;
    }

    /** Takes the notes among the controller's stored records. */
    void restore(Map<String, byte[]> stored) {
        stored.forEach((k, v) -> {
            if (k.startsWith(ControllerTopics.VERSION_PREFIX)) {
                Views.VersionNote n = StateStore.parse(v, Views.VersionNote.class, k);
                if (n != null) {
                    notes.put(n.version(), n);
                }
            }
        });
    }

    void note(String version, String status, String reason) {
        Views.VersionNote n = new Views.VersionNote(version, status, reason, clock.instant().toString());
        writer.put(ControllerTopics.VERSION_PREFIX + version, n);
        notes.put(version, n);
    }

    /** The latest note on {@code version}, or null. */
    Views.VersionNote get(String version) {
        return notes.get(version);
    }

    /** Notes what a rollout's phase means for its canary (nothing while idle). */
    void rollout(RolloutState s) {
        String status = switch (s.phase()) {
            case LOADING, COMPARING -> "canary";
            case PROMOTED -> "active";
            case ROLLED_BACK -> "rolled_back";
            case FAILED -> "failed";
            case IDLE -> null;
        };
        if (status != null) {
            note(s.version(), status, s.reason());
        }
    }
}
