package io.vitstream.controller.state;

/** Where the controller keeps what only it knows ({@link ControllerTopics#STATE}); {@link StateStore} in production. */
@FunctionalInterface
public interface StateWriter {
    /** Replaces the durable record {@code key} with {@code value} (as JSON); returns once it is durable. */
    void put(String key, Object value);
}
