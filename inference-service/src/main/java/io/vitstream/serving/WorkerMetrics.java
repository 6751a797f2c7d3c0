package io.vitstream.serving;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.vitstream.serving.decode.RejectReason;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.DoubleSupplier;

/**
 * The worker's meters. Names are Micrometer's dotted lower case; the Prometheus registry renders them with units and
 * {@code _total} ({@code inference.latency} -> {@code inference_latency_seconds_bucket}). Tags stay low-cardinality:
 * model version, keep ratio, stage, reason. Latencies and sizes publish histograms, so they aggregate across workers.
 */
public final class WorkerMetrics implements MeterBinder {
    private volatile MeterRegistry registry;
    private final AtomicInteger ready = new AtomicInteger();
    private final AtomicLong images = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();
    private volatile MultiGauge serving;

    @Override
    public void bindTo(MeterRegistry registry) {
        this.registry = registry;
        Gauge.builder("model.ready", ready, AtomicInteger::get)
                .description("1 when a model is loaded and warm").register(registry);
        serving = MultiGauge.builder("model.serving")
                .description("1 for each version this worker serves, by role (active, canary)").register(registry);
        for (RejectReason r : RejectReason.values()) {
            dlqCounter(r); // present at zero, so a dashboard shows every reason from the start
        }
    }

    private MeterRegistry registry() {
        if (registry == null) {
            throw new IllegalStateException("WorkerMetrics is not bound to a registry");
        }
        return registry;
    }

    private static String ratio(double keepRatio) {
        return String.format(Locale.ROOT, "%.2f", keepRatio);
    }

    private Timer latency(String stage, String version, String keepRatio) {
        return Timer.builder("inference.latency")
                .description("time per input: queue (record timestamp to batch start), inference (forward pass of its"
                        + " batch), end_to_end (record timestamp to prediction produced)")
                .tags("stage", stage, "version", version, "keep_ratio", keepRatio)
                .publishPercentileHistogram()
                .register(registry());
    }

    /** The meters of one (version, keep ratio), registered once: the loop thread records into them per prediction. */
    private record PredictionMeters(Timer queue, Timer inference, Timer endToEnd, Counter images,
            DistributionSummary tokensKept, DistributionSummary flops) {}

    private record VersionRatio(String version, double keepRatio) {}

    // A handful of entries (versions x keep ratios served); looking meters up by builder per prediction cost six
    // String.format calls and six registry lookups on the loop thread.
    private final Map<VersionRatio, PredictionMeters> predictionMeters = new ConcurrentHashMap<>();

    private PredictionMeters predictionMeters(String version, double keepRatio) {
        return predictionMeters.computeIfAbsent(new VersionRatio(version, keepRatio), k -> {
            String r = ratio(k.keepRatio());
            return new PredictionMeters(
                    latency("queue", k.version(), r),
                    latency("inference", k.version(), r),
                    latency("end_to_end", k.version(), r),
                    Counter.builder("inference.images").description("images predicted (rate() gives images/s)")
                            .tags("version", k.version(), "keep_ratio", r).register(registry()),
                    DistributionSummary.builder("inference.tokens.kept")
                            .description("tokens summed over blocks, per image")
                            .tags("version", k.version(), "keep_ratio", r).publishPercentileHistogram()
                            .register(registry()),
                    DistributionSummary.builder("inference.flops").description("FLOPs per image").baseUnit("flops")
                            .tags("version", k.version(), "keep_ratio", r).register(registry()));
        });
    }

    /** One committed prediction. */
    public void predicted(String version, double keepRatio, double queueMs, double inferenceMs, double endToEndMs,
            int tokensKept, long flops) {
        PredictionMeters m = predictionMeters(version, keepRatio);
        m.queue().record((long) (queueMs * 1e6), TimeUnit.NANOSECONDS);
        m.inference().record((long) (inferenceMs * 1e6), TimeUnit.NANOSECONDS);
        m.endToEnd().record((long) (endToEndMs * 1e6), TimeUnit.NANOSECONDS);
        m.images().increment();
        m.tokensKept().record(tokensKept);
        m.flops().record(flops);
        images.incrementAndGet();
    }

    /** Where a micro-batch's time goes, one phase of the worker loop at a time (see {@link Phase}). */
    public enum Phase {
        /** In poll(): fetching records, or waiting for them until the batch is full or its wait has run out. */
        COLLECT,
        /** Sniffing, decoding, resizing and normalising the batch's images. */
        DECODE,
        /** The served model's forward pass (and the teacher's, when sampling), on a lane: summed over the lanes. */
        FORWARD,
        /** The loop thread waiting for a lane, every lane busy and one batch queued behind them. */
        WAIT,
        /** Building the predictions and handing them, the dead letters and the offsets to the producer. */
        PRODUCE,
        /** commitTransaction(): flushing the batch and the broker's two-phase commit. */
        COMMIT;

        final String tag = name().toLowerCase(Locale.ROOT);
    }

    // Registered on first use, then reused: the loop thread records several phases per batch.
    private final Timer[] phaseTimers = new Timer[Phase.values().length];

    /** Time one batch spent in {@code phase}. */
    public void phase(Phase phase, long nanos) {
        Timer timer = phaseTimers[phase.ordinal()];
        if (timer == null) {
            // Racy but harmless: registering the same meter twice returns the one already registered.
            timer = Timer.builder("inference.batch.phase")
                    .description("time per micro-batch by phase: collect, decode, wait, produce, commit (loop thread);"
                            + " forward (inference lanes)")
                    .tag("phase", phase.tag).register(registry());
            phaseTimers[phase.ordinal()] = timer;
        }
        timer.record(nanos, TimeUnit.NANOSECONDS);
    }

    /** One committed micro-batch. */
    public void batch(int size) {
        DistributionSummary.builder("inference.batch.size").description("records per micro-batch")
                .publishPercentileHistogram().maximumExpectedValue(4096.0).register(registry()).record(size);
    }

    private Counter dlqCounter(RejectReason reason) {
        return Counter.builder("inference.dlq").description("inputs sent to the dead-letter topic")
                .tag("reason", reason.wire()).register(registry());
    }

    /** One committed dead letter. */
    public void rejected(RejectReason reason) {
        dlqCounter(reason).increment();
        rejected.incrementAndGet();
    }

    /** The transactional producer was replaced under the same id (fenced by the coordinator, or unusable). */
    public void producerReplaced() {
        Counter.builder("inference.producer.replaced").register(registry()).increment();
    }

    public void aborted(String cause) {
        Counter.builder("inference.transactions.aborted").tag("cause", cause).register(registry()).increment();
    }

    public void swapped(String version) {
        Counter.builder("model.swaps").description("model versions swapped in").tag("version", version)
                .register(registry()).increment();
    }

    public void swapFailed(String reason) {
        Counter.builder("model.swap.failures").description("model versions refused").tag("reason", reason)
                .register(registry()).increment();
    }

    /** The keep ratio the last batch ran at, read from {@code source} at each scrape. */
    public void keepRatioFrom(DoubleSupplier source) {
        Gauge.builder("inference.keep.ratio", source, DoubleSupplier::getAsDouble)
                .description("keep ratio the last batch ran at (vit.control's fixed ratio, or chosen in its bounds)")
                .strongReference(true) // the supplier is often a method reference nobody else holds
                .register(registry());
    }

    private record Choice(double keepRatio, String reason) {}

    private final Map<Choice, Counter> choiceCounters = new ConcurrentHashMap<>();
    private volatile Timer forwardPredicted;
    private volatile Timer forwardActual;

    /** One batch's keep ratio, chosen for {@code reason} (the prediction's keep_reason). */
    public void keepChosen(double keepRatio, String reason) {
        choiceCounters.computeIfAbsent(new Choice(keepRatio, reason), k -> Counter.builder("inference.keep.choices")
                .description("batches by the keep ratio chosen for them and why (fixed, ceiling, slo, floor, hold,"
                        + " warming)")
                .tags("keep_ratio", ratio(k.keepRatio()), "reason", k.reason()).register(registry())).increment();
    }

    /**
     * One batch's forward pass as the fast loop predicted it ({@code predictedMs}, NaN when it had no measurement)
     * and as it ran: how well the chooser knows its service times.
     */
    public void batchForward(double predictedMs, double actualMs) {
        if (forwardActual == null) {
            forwardPredicted = Timer.builder("inference.batch.forward.predicted")
                    .description("forward pass per batch as predicted by the keep-ratio chooser").register(registry());
            forwardActual = Timer.builder("inference.batch.forward.actual")
                    .description("forward pass per batch as measured (compare with .predicted)").register(registry());
        }
        if (!Double.isNaN(predictedMs)) {
            forwardPredicted.record((long) (predictedMs * 1e6), TimeUnit.NANOSECONDS);
            forwardActual.record((long) (actualMs * 1e6), TimeUnit.NANOSECONDS);
        }
    }

    /** The backlog, its oldest record's wait and the arrival rate, read at each scrape. */
    public void loadFrom(java.util.function.LongSupplier backlog, DoubleSupplier oldestWaitMs,
            DoubleSupplier arrivalPerS) {
        Gauge.builder("inference.backlog", backlog, b -> (double) b.getAsLong()).baseUnit("records")
                .description("records waiting: fetched and not served, plus the assigned partitions' lag")
                .strongReference(true).register(registry());
        Gauge.builder("inference.backlog.oldest", oldestWaitMs, s -> s.getAsDouble() / 1000).baseUnit("seconds")
                .description("age of the oldest waiting record when its batch was cut")
                .strongReference(true).register(registry());
        Gauge.builder("inference.arrival.rate", arrivalPerS, DoubleSupplier::getAsDouble)
                .description("records per second arriving on this worker's partitions")
                .strongReference(true).register(registry());
    }

    /** The versions this worker serves now; {@code canary} may be null. */
    public void serving(String active, String canary) {
        List<MultiGauge.Row<?>> rows = new ArrayList<>(2);
        if (active != null) {
            rows.add(MultiGauge.Row.of(Tags.of("version", active, "role", "active"), 1));
        }
        if (canary != null) {
            rows.add(MultiGauge.Row.of(Tags.of("version", canary, "role", "canary"), 1));
        }
        serving.register(rows, true); // overwrite: a version no longer served disappears
    }

    public void setReady(boolean isReady) {
        ready.set(isReady ? 1 : 0);
    }

    public boolean ready() {
        return ready.get() == 1;
    }

    public long imagesPredicted() {
        return images.get();
    }

    public long imagesRejected() {
        return rejected.get();
    }
}
