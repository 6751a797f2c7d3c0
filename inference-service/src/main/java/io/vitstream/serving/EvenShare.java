package io.vitstream.serving;

/**
 * Picks a share of a stream of events by a running credit: evenly spread, exactly the share over time, no randomness.
 * Canary batches and teacher-sampled inputs are both picked this way. Not thread-safe: one owner thread.
 */
final class EvenShare {
    private double credit;

    /** Whether this event is picked, at {@code share} (in [0, 1]) of events; the share may change between calls. */
    boolean next(double share) {
        credit += share;
        if (credit >= 1.0) {
            credit -= 1.0;
            return true;
        }
        return false;
    }
}
