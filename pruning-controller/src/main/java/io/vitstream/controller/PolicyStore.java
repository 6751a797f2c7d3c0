package io.vitstream.controller;

import io.vitstream.controller.policy.PolicyMemory;
import io.vitstream.controller.policy.PolicySettings;
import io.vitstream.controller.state.ControllerTopics;
import io.vitstream.controller.state.StateStore;
import io.vitstream.controller.state.StateWriter;
import io.vitstream.util.Json;
import java.io.IOException;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The policy's settings and memory, kept durable ({@value ControllerTopics#KEY_POLICY} and
 * {@value ControllerTopics#KEY_MEMORY}) so a restarted controller carries on with both. Settings are read from any
 * thread; changes, and the memory, belong to the loop thread.
 */
final class PolicyStore {
    private static final Logger log = LoggerFactory.getLogger(PolicyStore.class);

    private final StateWriter writer;
    private final PolicySettings previous;
    private volatile PolicySettings settings;
    private volatile PolicyMemory memory;

    private PolicyStore(StateWriter writer, PolicySettings previous, PolicySettings settings, PolicyMemory memory) {
        this.writer = writer;
        this.previous = previous;
        this.settings = settings;
        this.memory = memory;
    }

    /**
     * The policy as the previous run left it (over the defaults, so settings added since take theirs) with the
     * configured {@code policy.*} settings on top, written back; the memory's cool-down times (the runs of windows
     * start again).
     */
    static PolicyStore restore(Map<String, byte[]> stored, ControllerConfig config, StateWriter writer) {
        PolicySettings before = storedPolicy(stored.get(ControllerTopics.KEY_POLICY));
        PolicySettings settings = config.policy(before == null ? PolicySettings.defaults() : before).validated();
        PolicyMemory m = StateStore.parse(stored.get(ControllerTopics.KEY_MEMORY), PolicyMemory.class,
                ControllerTopics.KEY_MEMORY);
        PolicyStore p = new PolicyStore(writer, before, settings, m == null ? PolicyMemory.EMPTY : m.durable());
        writer.put(ControllerTopics.KEY_POLICY, settings);
        return p;
    }

    private static PolicySettings storedPolicy(byte[] json) {
        if (json == null) {
            return null;
        }
        try {
            return PolicySettings.restore(Json.MAPPER.readTree(json));
        } catch (IOException | IllegalArgumentException e) {
            log.warn("ignoring the stored {} record: {}", ControllerTopics.KEY_POLICY,
                    e.getMessage().lines().findFirst().orElse(""));
            return null;
        }
    }

    /** What the previous run left (before this run's configuration was applied), or null on a first start. */
    PolicySettings previous() {
        return previous;
    }

    PolicySettings settings() {
        return settings;
    }

    /** Replaces the settings, durably. */
    void set(PolicySettings next) {
        writer.put(ControllerTopics.KEY_POLICY, next);
        settings = next;
    }

    PolicyMemory memory() {
        return memory;
    }

    /** Replaces the memory; writes it when its durable part (the cool-down times) changed. */
    void remember(PolicyMemory next) {
        boolean durableChange = !next.durable().equals(memory.durable());
        if (durableChange) {
            writer.put(ControllerTopics.KEY_MEMORY, next.durable());
        }
        memory = next;
    }
}
