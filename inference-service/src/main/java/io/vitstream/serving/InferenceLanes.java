package io.vitstream.serving;

import io.vitstream.data.InputSpec;
import io.vitstream.serving.Decoder.Decoded;
import io.vitstream.serving.WorkerMetrics.Phase;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The infer stage: {@code inference.lanes} lanes, each running one batch's forward pass at a time, and the batches
 * handed to them and not committed yet, oldest first. The dense teacher, when sampling is on, scores its share of
 * inputs on the same lane right after the served model. The loop thread submits, takes finished batches in order and
 * commits them; lanes only run models.
 */
final class InferenceLanes implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(InferenceLanes.class);

    private final String workerId;
    private final WorkerMetrics metrics;
    private final ExecutorService lanes;
    // Batches in the lanes or queued for them before the loop waits: more than the lanes, so a lane never idles while
    // the loop commits, and several finished batches share one transaction when commits are slow. Two per lane (plus
    // one) served more than one per lane in bench serve; a deeper queue only adds latency under overload.
    private final int maxInFlight;
    // Batches handed to the lanes and not committed yet, oldest first (committed strictly in this order).
    private final ArrayDeque<InFlight> inFlight = new ArrayDeque<>();
    private volatile long forwardDelayMs;
    private volatile double slowMsPerImage;
    // Dense-teacher sampling (off when null): the teacher scores teacherShare of inputs, spread evenly.
    private final ServingModel teacher;
    private final double teacherShare;
    private final EvenShare teacherPicks = new EvenShare();
    private boolean teacherInputWarned;

    /** A lane's result: logits (null when the forward pass failed), when it started, how long it took. */
    record Forward(float[][] logits, long startMs, double inferenceMs, Integer[] teacherClasses,
            RuntimeException error) {}

    /**
     * A decoded batch handed to the lanes and not yet committed. Records of partitions revoked from this worker
     * meanwhile ({@code dropped}) are neither produced nor committed: their new owner reads them again.
     */
    static final class InFlight {
        final Decoded batch;
        final ServingModel model;
        final double keepRatio;
        /** Why the batch runs at {@code keepRatio} (the predictions' keep_reason). */
        final String keepReason;
        /** The forward time the chooser predicted for it (NaN when it had no measurement). */
        final double predictedMs;
        final Future<Forward> forward;
        final Set<TopicPartition> dropped = new HashSet<>();

        InFlight(Decoded batch, ServingModel model, double keepRatio, String keepReason, double predictedMs,
                Future<Forward> forward) {
            this.batch = batch;
            this.model = model;
            this.keepRatio = keepRatio;
            this.keepReason = keepReason;
            this.predictedMs = predictedMs;
            this.forward = forward;
        }

        boolean kept(ConsumerRecord<String, byte[]> r) {
            return dropped.isEmpty() || !dropped.contains(new TopicPartition(r.topic(), r.partition()));
        }

        Forward result() {
            try {
                return forward.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new WakeupException();
            } catch (ExecutionException e) {
                // forward() catches what the model throws; anything else is a bug worth stopping for.
                throw new IllegalStateException("inference lane failed", e.getCause());
            }
        }
    }

    /** {@code laneCount} lanes; {@code teacher} (or null: no sampling) scores {@code teacherShare} of inputs. */
    /** How often {@link #close} says it still waits for a running forward pass. */
    static final Duration CLOSE_WARN_INTERVAL = Duration.ofMinutes(1);
    private Duration closeWarnInterval = CLOSE_WARN_INTERVAL;

    InferenceLanes(String workerId, int laneCount, ServingModel teacher, double teacherShare, WorkerMetrics metrics) {
        this.workerId = workerId;
        this.metrics = metrics;
        this.teacher = teacher;
        this.teacherShare = teacherShare;
        this.maxInFlight = 2 * laneCount + 1;
        AtomicInteger laneIds = new AtomicInteger();
        this.lanes = Executors.newFixedThreadPool(laneCount, r -> {
            Thread t = new Thread(r, "inference-lane-" + workerId + "-" + laneIds.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /** Whether any batch is in the lanes or finished and not committed. */
    boolean busy() {
        return !inFlight.isEmpty();
    }

    /** Every lane busy and batches queued behind them: the loop should wait for the oldest before taking more. */
    boolean full() {
        return inFlight.size() >= maxInFlight;
    }

    /** Records in batches handed to the lanes whose forward pass has not finished. */
    long unfinishedRecords() {
        long n = 0;
        for (InFlight f : inFlight) {
            if (!f.forward.isDone()) {
                n += f.batch.accepted().size();
            }
        }
        return n;
    }

    /** As {@link #submit(Decoded, ServingModel, double, String, double)} at a fixed ratio. */
    void submit(Decoded batch, ServingModel m, double keepRatio) {
        submit(batch, m, keepRatio, "fixed", Double.NaN);
    }

    /**
     * Hands {@code batch}'s forward pass through {@code m} at {@code keepRatio} to a lane; {@code keepReason} and
     * {@code predictedMs} are the chooser's, carried to the predictions and the metrics.
     */
    void submit(Decoded batch, ServingModel m, double keepRatio, String keepReason, double predictedMs) {
        float[] x = batch.pixels();
        int n = batch.accepted().size();
        int[] teacherPicks = teacherPicks(n, m.manifest().input());
        Future<Forward> forward = n == 0 ? CompletableFuture.completedFuture(
                new Forward(new float[0][], System.currentTimeMillis(), 0, new Integer[0], null))
                : lanes.submit(() -> forward(m, x, n, keepRatio, teacherPicks));
        inFlight.add(new InFlight(batch, m, keepRatio, keepReason, predictedMs, forward));
    }

    /**
     * The oldest batches whose forward passes are done, in consumption order, removed from the lanes' queue; with
     * {@code waitForOldest}, first waits for the oldest. A batch that finished early waits for the one before it.
     */
    List<InFlight> takeFinished(boolean waitForOldest) {
        if (inFlight.isEmpty()) {
            return List.of();
        }
        if (waitForOldest && !inFlight.peek().forward.isDone()) {
            long t0 = System.nanoTime();
            inFlight.peek().result();
            metrics.phase(Phase.WAIT, System.nanoTime() - t0);
        }
        List<InFlight> done = new ArrayList<>();
        while (!inFlight.isEmpty() && inFlight.peek().forward.isDone()) {
            done.add(inFlight.poll());
        }
        return done;
    }

    /** Marks the records of {@code partitions} in every uncommitted batch as dropped. */
    void dropRevoked(Collection<TopicPartition> partitions) {
        for (InFlight f : inFlight) {
            f.dropped.addAll(partitions);
        }
    }

    /** Waits for every submitted forward pass to finish, then forgets every uncommitted batch (after an abort). */
    void discardAll() {
        awaitIdle();
        inFlight.clear();
    }

    /** Blocks until every submitted forward pass has finished (a model must never be closed under a lane). */
    private void awaitIdle() {
        for (InFlight f : inFlight) {
            try {
                f.forward.get();
            } catch (ExecutionException e) {
                // failed: it no longer runs either
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** Runs on a lane: the served model's forward pass, then the teacher's on the sampled inputs. */
    private Forward forward(ServingModel m, float[] x, int n, double keepRatio, int[] teacherPicks) {
        if (forwardDelayMs > 0) {
            sleepQuietly(forwardDelayMs);
        }
        long startMs = System.currentTimeMillis();
        long t0 = System.nanoTime();
        try {
            if (slowMsPerImage > 0) {
                sleepQuietly(Math.round(slowMsPerImage * n * keepRatio));
            }
            float[][] logits = m.logits(x, n, keepRatio);
            double inferenceMs = (System.nanoTime() - t0) / 1e6;
            m.times().observe(keepRatio, n, inferenceMs);
            Integer[] teacherClasses = teacherClasses(x, n, teacherPicks, m.manifest().input());
            metrics.phase(Phase.FORWARD, System.nanoTime() - t0);
            return new Forward(logits, startMs, inferenceMs, teacherClasses, null);
        } catch (RuntimeException e) {
            metrics.phase(Phase.FORWARD, System.nanoTime() - t0);
            return new Forward(null, startMs, (System.nanoTime() - t0) / 1e6, null, e);
        }
    }

    /**
     * Which of a batch's {@code n} inputs the dense teacher also scores (empty when sampling is off): picked on the
     * loop thread by a running credit, as canary batches are: evenly spread, exactly the share over time, no
     * randomness.
     */
    private int[] teacherPicks(int n, InputSpec spec) {
        if (teacher == null || n == 0) {
            return new int[0];
        }
        if (!teacher.manifest().input().equals(spec)) {
            // The pixels were decoded and normalised for the served model; the teacher would see wrong inputs.
            if (!teacherInputWarned) {
                log.warn("worker {}: teacher {} expects input {}, the served model {}; not sampling such batches",
                        workerId, teacher.version(), teacher.manifest().input(), spec);
                teacherInputWarned = true;
            }
            return new int[0];
        }
        int[] picked = new int[n];
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (teacherPicks.next(teacherShare)) {
                picked[k++] = i;
            }
        }
        return Arrays.copyOf(picked, k);
    }

    /**
     * The dense teacher's class for the {@code picked} inputs of {@code x} (null for the others), run on a lane at
     * keep ratio 1.0 as one dense sub-batch. A teacher failure only leaves the field out: the student's predictions
     * still go out.
     */
    private Integer[] teacherClasses(float[] x, int n, int[] picked, InputSpec spec) {
        Integer[] out = new Integer[n];
        int k = picked.length;
        if (k == 0) {
            return out;
        }
        int px = spec.pixels();
        float[] sub = new float[k * px];
        for (int j = 0; j < k; j++) {
            System.arraycopy(x, picked[j] * px, sub, j * px, px);
        }
        try {
            float[][] logits = teacher.logits(sub, k, 1.0);
            for (int j = 0; j < k; j++) {
                out[picked[j]] = argmax(logits[j]);
            }
        } catch (RuntimeException e) {
            log.warn("teacher forward pass failed on {} sampled inputs; sent without teacher_class_index", k, e);
        }
        return out;
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            best = v[i] > v[best] ? i : best;
        }
        return best;
    }

    /** Test hook: every forward pass first sleeps this long (slow lanes, so batches stay in flight). */
    void delayForwards(long ms) {
        forwardDelayMs = ms;
    }

    /** Test hook: every forward pass sleeps {@code msPerImage x images x keep ratio} inside its measured time. */
    void slowForwards(double msPerImage) {
        slowMsPerImage = msPerImage;
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Test hook: how often {@link #close} warns while it waits. */
    void closeWarnInterval(Duration interval) {
        this.closeWarnInterval = interval;
    }

    /**
     * Stops the lanes and waits for a running forward pass to end, however long it takes, so that its model is never
     * closed under it (native memory); a warning every {@link #CLOSE_WARN_INTERVAL} says what it waits for. An
     * interrupt ends the wait early only after the pass has ended; the flag is kept for the caller.
     */
    @Override
    public void close() {
        lanes.shutdown();
        boolean interrupted = false;
        while (true) {
            try {
                if (lanes.awaitTermination(closeWarnInterval.toMillis(), TimeUnit.MILLISECONDS)) {
                    break;
                }
                log.warn("worker {}: waiting for a forward pass to end before its model is closed", workerId);
            } catch (InterruptedException e) {
                interrupted = true; // still wait: closing the model now would free memory the pass is using
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
