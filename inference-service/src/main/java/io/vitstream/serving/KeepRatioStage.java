package io.vitstream.serving;

import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.WorkerStatus;
import io.vitstream.serving.adapt.KeepChooser;
import io.vitstream.serving.adapt.KeepChooser.Choice;
import io.vitstream.serving.adapt.ServiceTimes;
import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The keep stage of the hot path, between collect and decode: picks each batch's keep ratio with the
 * {@link KeepChooser} (the fast loop) from what the loop sees (the batch, the records waiting behind it, the records
 * in the lanes, the arrival rate) and the served model's measured service times, within the bounds on vit.control.
 * Also keeps the load figures the heartbeat reports to the controller. The loop thread calls {@link #observe} and
 * {@link #choose}; heartbeats and scrapes read the volatile figures.
 */
final class KeepRatioStage {
    /** Arrivals are counted over about this long. */
    static final long ARRIVAL_WINDOW_NANOS = 1_000_000_000L;
    /** The share of batches at the floor is over this many recent batches. */
    static final int RECENT_BATCHES = 200;
    /** Efficiency is sampled over windows of about this long in which the worker stays backlogged. */
    static final long EFFICIENCY_WINDOW_NANOS = 1_000_000_000L;
    /** Weight of the newest efficiency sample. */
    static final double EFFICIENCY_ALPHA = 0.3;

    private final KeepChooser chooser;
    private final int batchMax;
    private final int lanes;
    private final WorkerMetrics metrics;
    // Loop thread: (System.nanoTime, records seen so far = fetched + lag) samples over the arrival window.
    private final ArrayDeque<long[]> seen = new ArrayDeque<>();
    private final boolean[] recentAtFloor = new boolean[RECENT_BATCHES];
    private int recentCount;
    private int recentNext;
    private int recentAtFloorCount; // true entries of recentAtFloor, kept as they enter and leave the ring
    // Efficiency: predicted lane time of the batches submitted in a window where every batch found a full batch
    // waiting behind it, over the lane time the window had. Below 1 when decoding, commits or other processes on the
    // cores hold the lanes back.
    private long windowStartNanos = -1;
    private double windowPredictedMs;
    private boolean windowBacklogged = true;
    private volatile double efficiency = 1.0;
    // Read by heartbeats and scrapes.
    private volatile double arrivalPerS;
    private volatile long backlog;
    private volatile double oldestWaitMs;
    private volatile double lastRatio = Double.NaN;
    private volatile double atFloorShare;
    private volatile ServiceTimes activeTimes;
    private KeepChooser.Bounds lastBounds;

    KeepRatioStage(KeepChooser.Settings settings, int batchMax, int lanes, WorkerMetrics metrics) {
        this.chooser = new KeepChooser(settings);
        this.batchMax = batchMax;
        this.lanes = lanes;
        this.metrics = metrics;
        metrics.loadFrom(() -> backlog, () -> oldestWaitMs, () -> arrivalPerS);
    }

    /**
     * After every poll: {@code recordsSeen} is every record fetched so far plus the assigned partitions' lag, so its
     * growth over the window is the arrival rate whether the worker keeps up or not.
     */
    void observe(long nowNanos, long recordsSeen, long waiting) {
        seen.addLast(new long[] {nowNanos, recordsSeen});
        while (seen.size() > 1 && nowNanos - seen.peekFirst()[0] > ARRIVAL_WINDOW_NANOS) {
            seen.removeFirst();
        }
        long[] first = seen.peekFirst();
        long dt = nowNanos - first[0];
        if (dt >= ARRIVAL_WINDOW_NANOS / 4) {
            arrivalPerS = Math.max(0, (recordsSeen - first[1]) * 1e9 / dt);
        }
        backlog = waiting;
        if (waiting == 0) {
            oldestWaitMs = 0;
        }
    }

    /**
     * The keep ratio for {@code batch} on {@code m}: fixed, or chosen within control's bounds.
     *
     * @param waiting records waiting behind the batch (fetched and not batched, plus lag)
     * @param inLanes records in the lanes and not finished
     */
    Choice choose(ServingModel m, boolean active, ControlMessage control, List<ConsumerRecord<String, byte[]>> batch,
            long waiting, long inLanes, long nowMs) {
        long oldest = Long.MAX_VALUE;
        for (ConsumerRecord<String, byte[]> r : batch) {
            oldest = Math.min(oldest, r.timestamp());
        }
        double ageMs = batch.isEmpty() || oldest <= 0 ? 0 : Math.max(0, nowMs - oldest);
        double floor = control == null ? 1.0 : control.floor();
        double ceiling = control == null ? 1.0 : control.ceiling();
        double slo = control == null || control.sloMs() == null ? Double.NaN : control.sloMs();
        double start = control == null ? 1.0 : control.keepRatio();
        KeepChooser.Bounds bounds = new KeepChooser.Bounds(floor, ceiling, slo, start);
        if (!bounds.equals(lastBounds)) {
            chooser.reset(); // new bounds: no hysteresis carried over from the old ones
            lastBounds = bounds;
        }
        KeepChooser.Load load = new KeepChooser.Load(batch.size(), waiting, inLanes, ageMs, arrivalPerS, batchMax,
                lanes, efficiency, nowMs);
        ServiceTimes times = m.times();
        Choice c = chooser.choose(bounds, load, (r, b) -> m.isReady(r) ? times.batchMs(r, b) : Double.NaN);
        sampleEfficiency(System.nanoTime(), c.predictedBatchMs(), waiting >= batchMax);
        if (active) {
            activeTimes = times;
        }
        oldestWaitMs = ageMs;
        lastRatio = c.keepRatio();
        boolean atFloor = !bounds.fixed() && c.keepRatio() <= floor + 1e-9;
        recentAtFloorCount += (atFloor ? 1 : 0) - (recentAtFloor[recentNext] ? 1 : 0); // the oldest leaves
        recentAtFloor[recentNext] = atFloor;
        recentNext = (recentNext + 1) % RECENT_BATCHES;
        recentCount = Math.min(RECENT_BATCHES, recentCount + 1);
        atFloorShare = (double) recentAtFloorCount / recentCount;
        metrics.keepChosen(c.keepRatio(), c.reason().wire());
        return c;
    }

    /**
     * Adds one submitted batch to the efficiency window; a window that stayed backlogged throughout yields a sample
     * (predicted lane time over the lane time it had), a window that did not is dropped (idle lanes say nothing).
     */
    void sampleEfficiency(long nowNanos, double predictedMs, boolean backlogged) {
        if (windowStartNanos < 0) {
            windowStartNanos = nowNanos;
        }
        windowBacklogged &= backlogged && !Double.isNaN(predictedMs);
        if (!Double.isNaN(predictedMs)) {
            windowPredictedMs += predictedMs;
        }
        long elapsed = nowNanos - windowStartNanos;
        if (elapsed >= EFFICIENCY_WINDOW_NANOS) {
            if (windowBacklogged) {
                double sample = Math.max(0.2, Math.min(1.0, windowPredictedMs / (lanes * elapsed / 1e6)));
                efficiency += EFFICIENCY_ALPHA * (sample - efficiency);
            }
            windowStartNanos = nowNanos;
            windowPredictedMs = 0;
            windowBacklogged = true;
        }
    }

    /** The share of predicted lane capacity the worker achieves when backlogged (1 until measured). */
    double efficiency() {
        return efficiency;
    }

    /** The ratio the last batch was given, or {@code fallback} before the first batch. */
    double lastKeepRatio(double fallback) {
        double r = lastRatio;
        return Double.isNaN(r) ? fallback : r;
    }

    /** What the heartbeat tells the controller; null before the first batch. */
    WorkerStatus.Load load(ControlMessage control) {
        ServiceTimes times = activeTimes;
        if (times == null) {
            return null;
        }
        List<Double> ratios = ModelFollower.keepRatios(control);
        Map<String, Double> capacity = new LinkedHashMap<>();
        for (double r : ratios.stream().sorted().toList()) {
            double perS = times.capacityPerS(r, batchMax, lanes) * efficiency;
            if (!Double.isNaN(perS)) {
                capacity.put(String.format(Locale.ROOT, "%.2f", r), Math.round(perS * 10) / 10.0);
            }
        }
        double floor = control == null ? 1.0 : control.floor();
        double ceiling = control == null ? 1.0 : control.ceiling();
        return new WorkerStatus.Load(Math.round(arrivalPerS * 10) / 10.0, backlog, oldestWaitMs, floor, ceiling,
                capacity, atFloorShare);
    }
}
