package io.vitstream.controller.policy;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where every decision and audited operator action goes: the log, a bounded history (newest last, served by
 * {@code GET /decisions}), the counter {@code controller.decisions{rule}}, and the listeners (the controller's
 * durable topic, the demo's printer). Thread-safe.
 */
public final class DecisionLog {
    private static final Logger log = LoggerFactory.getLogger(DecisionLog.class);

    private final int capacity;
    private final ArrayDeque<Decision> history;
    private final MeterRegistry registry;
    private final List<Consumer<Decision>> listeners = new CopyOnWriteArrayList<>();

    public DecisionLog(int capacity, MeterRegistry registry) {
        if (capacity < 1) {
            throw new IllegalArgumentException("decision history capacity must be >= 1, got " + capacity);
        }
        this.capacity = capacity;
        this.history = new ArrayDeque<>(capacity);
        this.registry = registry;
        for (Rule r : Rule.values()) {
            counter(r); // every rule's series exists from the start, at 0
        }
    }

    private Counter counter(Rule r) {
        return Counter.builder("controller.decisions").tag("rule", r.id())
                .description("Decisions of the controller by rule (admin: audited operator actions)")
                .register(registry);
    }

    /** Records a new decision: log, history, counter, listeners. */
    public void record(Decision d) {
        synchronized (history) {
            if (history.size() == capacity) {
                history.removeFirst();
            }
            history.addLast(d);
        }
        log.info("{}", d.line());
        counter(d.rule()).increment();
        for (Consumer<Decision> l : listeners) {
            try {
                l.accept(d);
            } catch (RuntimeException e) {
                log.warn("a decision listener failed: {}", e.toString());
            }
        }
    }

    /** Restores history read back after a restart (oldest first); not logged, counted or sent to listeners again. */
    public void restore(Collection<Decision> older) {
        synchronized (history) {
            List<Decision> all = new ArrayList<>(older);
            all.addAll(history);
            history.clear();
            for (Decision d : all.subList(Math.max(0, all.size() - capacity), all.size())) {
                history.addLast(d);
            }
        }
    }

    /** The history, oldest first. */
    public List<Decision> history() {
        synchronized (history) {
            return List.copyOf(history);
        }
    }

    public void addListener(Consumer<Decision> listener) {
        listeners.add(listener);
    }
}
