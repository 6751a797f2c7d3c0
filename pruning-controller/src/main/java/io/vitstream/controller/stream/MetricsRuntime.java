package io.vitstream.controller.stream;

import java.time.Instant;

/**
 * The running metrics topology and its read side, as the controller uses it: {@link MetricsRunner} in production
 * (Kafka Streams), a plain view in tests.
 */
public interface MetricsRuntime extends AutoCloseable {
    MetricsView view();

    /** Null while healthy, else why the figures are missing. */
    default String problem() {
        return null;
    }

    /** True when the metrics will not come back by themselves (the Streams app died), unlike a rebalance. */
    default boolean failed() {
        return false;
    }

    /** Timestamp of the newest prediction counted (the metrics' "now"), or null when unknown. */
    default Instant latest() {
        return null;
    }

    @Override
    default void close() {}
}
