package io.vitstream.controller.stream;

import java.util.Collections;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Latencies in milliseconds as a mergeable histogram with fixed, log-spaced buckets (the DDSketch layout): bucket
 * {@code i} counts values in (γ^(i-1), γ^i] with γ = (1 + α) / (1 - α), and answers with 2γ^i / (γ + 1), which lies
 * within a relative α of every value in the bucket. Only non-empty buckets are stored.
 *
 * <p><b>Error bound.</b> {@link #quantile(double)} returns the nearest-rank q-quantile (the ⌈q·n⌉-th smallest of the n
 * values) within a relative error of {@link #RELATIVE_ERROR} α = 1%; values under {@link #MIN_MS} are counted apart
 * and answered as 0 (absolute error under 0.01 ms). Merging adds counts and is exact, so the bound holds for any union
 * of windows: the topology stores these per time slice and the view merges slices into any window it is asked for.
 * Against exact samples this costs no more than one count per touched bucket (a few hundred for latencies spanning
 * three decades), whatever the traffic.
 *
 * @param belowMin values under {@link #MIN_MS} (0 ms included)
 * @param buckets bucket index to count, non-empty buckets only
 */
record LatencyHistogram(long belowMin, SortedMap<Integer, Long> buckets) {
    public static final double RELATIVE_ERROR = 0.01;
    public static final double MIN_MS = 0.01;
    private static final double GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR);
    private static final double LOG_GAMMA = Math.log(GAMMA);

    static final LatencyHistogram EMPTY = new LatencyHistogram(0, new TreeMap<>());

    LatencyHistogram {
        buckets = Collections.unmodifiableSortedMap(new TreeMap<>(buckets));
    }

    /** This histogram with one more value; NaN is ignored, negative values count as 0. */
    LatencyHistogram plus(double ms) {
        if (Double.isNaN(ms)) {
            return this;
        }
        if (ms < MIN_MS) {
            return new LatencyHistogram(belowMin + 1, buckets);
        }
        TreeMap<Integer, Long> b = new TreeMap<>(buckets);
        b.merge((int) Math.ceil(Math.log(ms) / LOG_GAMMA), 1L, Long::sum);
        return new LatencyHistogram(belowMin, b);
    }

    /** The histogram of both sets of values. */
    LatencyHistogram merge(LatencyHistogram other) {
        TreeMap<Integer, Long> b = new TreeMap<>(buckets);
        other.buckets.forEach((i, n) -> b.merge(i, n, Long::sum));
        return new LatencyHistogram(belowMin + other.belowMin, b);
    }

    long count() {
        long n = belowMin;
        for (long c : buckets.values()) {
            n += c;
        }
        return n;
    }

    /** The nearest-rank {@code q}-quantile, q in (0, 1], within {@link #RELATIVE_ERROR}; NaN when empty. */
    double quantile(double q) {
        if (!(q > 0 && q <= 1)) {
            throw new IllegalArgumentException("quantile must be in (0, 1], got " + q);
        }
        long n = count();
        if (n == 0) {
            return Double.NaN;
        }
        long rank = Math.max(1, (long) Math.ceil(q * n - 1e-9)); // 1e-9: 0.95 * 100 must be rank 95, not 96
        long seen = belowMin;
        if (seen >= rank) {
            return 0;
        }
        for (Map.Entry<Integer, Long> e : buckets.entrySet()) {
            seen += e.getValue();
            if (seen >= rank) {
                return 2 * Math.pow(GAMMA, e.getKey()) / (GAMMA + 1);
            }
        }
        throw new IllegalStateException("unreachable: rank " + rank + " of " + n);
    }
}
