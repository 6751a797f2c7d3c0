package io.vitstream.serving.adapt;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * One model's measured forward-pass time per batch, kept online per keep ratio and per batch size (buckets of powers
 * of two), as an exponentially weighted mean of the time per image. Seeded when the model warms up, then updated by
 * every batch a lane runs. Thread-safe: lanes write, the loop thread reads.
 *
 * <p>A batch size with no measurement of its own borrows the time per image of the nearest smaller measured size
 * (per-image cost falls as batches grow, so this errs slow), else of the nearest larger one. A (ratio, size) known
 * only from its warm-up seed is scaled by how much slower served batches ran than their own seeds (the machine under
 * load, other processes on its cores): by that ratio's own served batches at other sizes when it has some, else by
 * every ratio's, so that a ratio not served for a while is not judged by an idle machine.
 */
public final class ServiceTimes {
    /** Weight of the newest batch: about the last ten batches at one (ratio, size) count. */
    static final double ALPHA = 0.1;

    // ratio key ("0.70") -> batch bucket -> EWMA of ms per image
    private final Map<String, TreeMap<Integer, Double>> perImageMs = new TreeMap<>();
    // The same keys: the warm-up seed, and whether any batch has been measured there since.
    private final Map<String, TreeMap<Integer, Double>> seeds = new TreeMap<>();
    private final Map<String, java.util.Set<Integer>> observed = new TreeMap<>();
    // EWMA of measured / seeded time per image, over batches whose (ratio, size) has a seed: per ratio, and over all.
    private final Map<String, Double> slowdownByRatio = new TreeMap<>();
    private double slowdown = 1.0;

    /** Records one forward pass of {@code batch} images at {@code keepRatio} that took {@code ms}. */
    public synchronized void observe(double keepRatio, int batch, double ms) {
        if (batch < 1 || !(ms >= 0) || Double.isInfinite(ms)) {
            return;
        }
        double perImage = ms / batch;
        String k = key(keepRatio);
        int b = bucket(batch);
        TreeMap<Integer, Double> ratioSeeds = seeds.get(k);
        Double seed = ratioSeeds == null ? null : ratioSeeds.get(b);
        if (seed != null && seed > 0) {
            double factor = perImage / seed;
            slowdown += ALPHA * (factor - slowdown);
            slowdownByRatio.merge(k, factor, (old, now) -> old + ALPHA * (now - old));
        }
        boolean first = observed.computeIfAbsent(k, x -> new java.util.HashSet<>()).add(b);
        perImageMs.computeIfAbsent(k, x -> new TreeMap<>())
                .merge(b, perImage, (old, now) -> first ? now : old + ALPHA * (now - old));
    }

    /** Records a warm-up measurement, unless this (ratio, size) is measured already. */
    public synchronized void seed(double keepRatio, int batch, double ms) {
        if (batch >= 1 && ms >= 0 && !Double.isInfinite(ms)) {
            seeds.computeIfAbsent(key(keepRatio), k -> new TreeMap<>()).putIfAbsent(bucket(batch), ms / batch);
            perImageMs.computeIfAbsent(key(keepRatio), k -> new TreeMap<>()).putIfAbsent(bucket(batch), ms / batch);
        }
    }

    /** Predicted milliseconds of one forward pass of {@code batch} images at {@code keepRatio}, NaN when unmeasured. */
    public synchronized double batchMs(double keepRatio, int batch) {
        TreeMap<Integer, Double> byBucket = perImageMs.get(key(keepRatio));
        if (byBucket == null || byBucket.isEmpty() || batch < 1) {
            return Double.NaN;
        }
        int b = bucket(batch);
        Map.Entry<Integer, Double> e = byBucket.floorEntry(b);
        if (e == null) {
            e = byBucket.ceilingEntry(b);
        }
        String k = key(keepRatio);
        boolean seedOnly = !observed.getOrDefault(k, java.util.Set.of()).contains(e.getKey());
        return e.getValue() * batch * (seedOnly ? slowdownByRatio.getOrDefault(k, slowdown) : 1.0);
    }

    /** Measured over seeded time of the batches served so far (1 before any): applied to seed-only entries. */
    public synchronized double slowdown() {
        return slowdown;
    }

    /** Whether {@code keepRatio} has any measurement. */
    public synchronized boolean measured(double keepRatio) {
        TreeMap<Integer, Double> byBucket = perImageMs.get(key(keepRatio));
        return byBucket != null && !byBucket.isEmpty();
    }

    /**
     * Images per second at {@code keepRatio} with full batches of {@code batch} on every one of {@code lanes} lanes
     * (NaN when unmeasured): the capacity the controller adds up.
     */
    public double capacityPerS(double keepRatio, int batch, int lanes) {
        double ms = batchMs(keepRatio, batch);
        return Double.isNaN(ms) || ms <= 0 ? Double.NaN : lanes * batch * 1000.0 / ms;
    }

    /** Keep ratios are compared to two decimals, as vit.control and the metrics' tags write them. */
    static String key(double keepRatio) {
        return String.format(Locale.ROOT, "%.2f", keepRatio);
    }

    /** The smallest power of two at or above {@code batch}. */
    static int bucket(int batch) {
        return batch <= 1 ? 1 : Integer.highestOneBit(batch - 1) << 1;
    }
}
