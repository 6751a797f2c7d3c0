package io.vitstream.controller.stream;

import java.time.Duration;

/**
 * The metrics topology's windows.
 *
 * <p>Figures are kept per time slice (a tumbling window of {@code slice}); a hopping window of size {@code d} that
 * advances by {@code slice} is the merge of its {@code d / slice} slices, which the view does at query time for any
 * {@code d} it is asked (see {@link StoreMetricsView}). Each prediction updates one slice instead of {@code d / slice}
 * overlapping windows, and labelled counts since an instant add up without counting a prediction twice.
 *
 * @param slice granularity of every window the view answers (the hop of the hopping windows)
 * @param joinWindow largest time between a prediction and its label on {@code vit.labels}, either way round
 * @param joinGrace how late (out of order) a prediction or label record may arrive and still be joined
 * @param retention how far back slices are kept: the longest window {@code recent} and {@code labelledSince} can see
 */
public record MetricsSettings(Duration slice, Duration joinWindow, Duration joinGrace, Duration retention) {
    public MetricsSettings {
        positive("slice", slice);
        positive("joinWindow", joinWindow);
        if (joinGrace == null || joinGrace.isNegative()) {
            throw new IllegalArgumentException("joinGrace must be zero or positive, got " + joinGrace);
        }
        positive("retention", retention);
        Duration least = slice.plus(joinWindow).plus(joinGrace);
        if (retention.compareTo(least) < 0) {
            throw new IllegalArgumentException("retention must be at least slice + joinWindow + joinGrace (" + least
                    + "): a slice stays open that long for late labels, got " + retention);
        }
    }

    /** 10 s slices, labels joined within 5 min (30 s grace), 2 h kept. */
    public static MetricsSettings defaults() {
        return new MetricsSettings(Duration.ofSeconds(10), Duration.ofMinutes(5), Duration.ofSeconds(30),
                Duration.ofHours(2));
    }

    /**
     * How long a slice accepts records after its end: a joined label is counted at its prediction's time, up to
     * {@code joinWindow + joinGrace} behind the newest record.
     */
    public Duration lateness() {
        return joinWindow.plus(joinGrace);
    }

    private static void positive(String name, Duration d) {
        if (d == null || d.isZero() || d.isNegative()) {
            throw new IllegalArgumentException(name + " must be positive, got " + d);
        }
    }
}
