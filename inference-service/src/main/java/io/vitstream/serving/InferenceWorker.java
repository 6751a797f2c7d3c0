package io.vitstream.serving;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.vitstream.engine.EngineKind;
import io.vitstream.kafka.Topics;
import io.vitstream.model.VitModel;
import io.vitstream.serving.TransactionalCommitter.SimulatedCrash;
import io.vitstream.serving.WorkerMetrics.Phase;
import io.vitstream.serving.adapt.KeepChooser;
import io.vitstream.signing.ModelSigning;
import java.security.PublicKey;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One inference worker: consume {@code vit.images} in a consumer group, decode, micro-batch, forward, produce one
 * prediction (or one dead letter) per input, and commit the consumed offsets in the same Kafka transaction
 * (consume-transform-produce, exactly once for read_committed readers). {@link #run()} is the hot path, one stage
 * class per step: {@link BatchCollector} (poll results to micro-batches), {@link Decoder} (records to pixels and
 * dead letters), {@link InferenceLanes} (forward passes, teacher sampling) and {@link TransactionalCommitter}
 * (produce and commit, rebalances). Model versions and the keep ratio come from {@link ModelFollower}, which prepares
 * them off this thread; {@link ModelSlots} swaps them in only between batches, with no batch in the lanes.
 *
 * <p>One loop thread owns the consumer and the transactional producer: it polls, decodes and hands each batch to one
 * of {@code inference.lanes} lanes, then produces and commits finished batches in consumption order while the lanes
 * run the next ones. On a CPU, lanes running one-threaded forward passes side by side beat one forward pass spread
 * over every core by 1.2x (batch 64) to 1.5x (batch 16) for models this small (docs/serving.md, "Serving: `bench serve`"), and the
 * loop's Kafka round trips overlap the matrix products instead of idling the cores.
 */
public final class InferenceWorker implements Runnable, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(InferenceWorker.class);

    private final WorkerConfig config;
    private final WorkerMetrics metrics;
    private final ModelFollower follower;
    private final KafkaConsumer<String, byte[]> consumer;
    private final JvmGcMetrics gcMetrics = new JvmGcMetrics();
    private final CountDownLatch finished = new CountDownLatch(1);
    private volatile boolean stopping;
    /** NEW until {@link #run} or {@link #close} claims the worker; whichever comes first owns the clients. */
    private final java.util.concurrent.atomic.AtomicReference<Lifecycle> lifecycle =
            new java.util.concurrent.atomic.AtomicReference<>(Lifecycle.NEW);
    /** The loop thread was interrupted: it stopped as if closed, and the flag is set again when it ends. */
    private boolean interrupted;

    private enum Lifecycle { NEW, RUNNING, CLOSED }
    // The stages, in the order a record passes them; the slots hold the models they run.
    private final ModelSlots slots;
    private final BatchCollector collector;
    private final Decoder decoder;
    private final KeepRatioStage keep;
    private final InferenceLanes lanes;
    private final TransactionalCommitter committer;
    // The assigned partitions' lag, refreshed at most every LAG_REFRESH_NANOS (loop thread).
    private static final long LAG_REFRESH_NANOS = 20_000_000L;
    private long lag;
    private boolean lagKnown;
    private long lagAtNanos;

    private InferenceWorker(WorkerConfig config, MeterRegistry registry, ServingModel initial, ServingModel teacher,
            int laneCount) {
        this.config = config;
        this.metrics = new WorkerMetrics();
        metrics.bindTo(registry);
        Map<String, Object> common = WorkerClients.common(config);
        PublicKey key = config.publicKey() == null ? null : ModelSigning.readPublicKey(config.publicKey());
        this.follower = new ModelFollower(config, common, key, metrics);
        this.consumer = WorkerClients.consumer(config, common);
        this.collector = new BatchCollector(config.batchMaxSize(), config.batchMaxWaitMs());
        this.keep = new KeepRatioStage(config.adaptiveKeep(), config.batchMaxSize(), laneCount, metrics);
        this.decoder = new Decoder(config.inputMaxBytes(), config.inputMaxPixels(), metrics);
        this.lanes = new InferenceLanes(config.workerId(), laneCount, teacher, config.teacherSampleShare(), metrics);
        this.committer = new TransactionalCommitter(() -> WorkerClients.producer(config, common), consumer, lanes, collector,
                new PredictionBuilder(config.topK(), config.workerId()), metrics);
        new KafkaClientMetrics(consumer).bindTo(registry); // consumer lag and fetch rates
        metrics.keepRatioFrom(this::keepRatioNow);
        follower.heartbeatFrom(this::keepRatioNow, () -> keep.load(follower.control()));
        // The process next to the worker: heap, GC pauses and CPU explain latency outliers on the dashboards.
        new JvmMemoryMetrics().bindTo(registry);
        gcMetrics.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        this.slots = new ModelSlots(config.workerId(), follower, metrics, initial, teacher);
        follower.beforeKeepRatio(slots::prepareKeepRatio);
    }

    /**
     * A worker ready to {@link #run()}: loads {@link WorkerConfig#modelDir()} if given (a local, operator-trusted
     * file), loads the dense teacher when teacher sampling is on, and starts following the control and model topics.
     */
    public static InferenceWorker create(WorkerConfig config, MeterRegistry registry) {
        boolean pytorch = config.engine().resolve() == EngineKind.PYTORCH;
        ai.djl.Device device = pytorch ? checkDevice(config.device()) : config.onnxDevice();
        int laneCount = lanesFor(config.inferenceLanes(), device);
        if (pytorch && !device.isGpu()) {
            // Process-wide: the cores are shared out between the lanes instead of each forward pass taking them all.
            VitModel.setIntraOpThreads(config.inferenceThreads() > 0 ? config.inferenceThreads()
                    : Math.max(1, Runtime.getRuntime().availableProcessors() / laneCount));
        }
        log.info("worker {}: models run on {} with {} in {} lane(s)", config.workerId(), device,
                config.engine().resolve(), laneCount);
        ServingModel initial = null;
        ServingModel teacher = null;
        try {
            if (config.modelDir() != null) {
                initial = ServingModel.load(config.modelDir(), config);
                initial.warmUp(config.batchMaxSize());
            }
            if (config.teacherSampleShare() > 0) {
                // Loaded once, with the same verification as any served model (sha256, size, every weight shape).
                // It scores at keep ratio 1.0 only, so the worker's token reducer does not apply to it.
                teacher = ServingModel.load(config.teacherModelDir(), config, null);
                teacher.warmUp(config.batchMaxSize());
                log.info("worker {}: dense teacher {} scores {} of inputs", config.workerId(), teacher.version(),
                        config.teacherSampleShare());
            }
            InferenceWorker w = new InferenceWorker(config, registry, initial, teacher, laneCount);
            w.follower.start();
            return w;
        } catch (RuntimeException e) {
            // Nothing half-built keeps native memory: close what was loaded before the failure.
            if (initial != null) {
                initial.close();
            }
            if (teacher != null) {
                teacher.close();
            }
            throw e;
        }
    }

    /** {@code configured} lanes, or for 0 (auto) one per core on a CPU and one on a GPU (one stream of kernels). */
    static int lanesFor(int configured, ai.djl.Device device) {
        if (configured > 0) {
            return configured;
        }
        return device.isGpu() ? 1 : Math.max(1, Runtime.getRuntime().availableProcessors());
    }

    /**
     * The device models will run on: the forced one, or DJL's default (a GPU when the PyTorch engine sees one).
     *
     * @throws io.vitstream.util.UserError when a GPU is forced that the engine does not see
     */
    static ai.djl.Device checkDevice(ai.djl.Device forced) {
        ai.djl.engine.Engine engine = ai.djl.engine.Engine.getInstance();
        if (forced == null) {
            return engine.defaultDevice();
        }
        if (forced.isGpu() && forced.getDeviceId() >= engine.getGpuCount()) {
            throw new io.vitstream.util.UserError("device " + forced + " is not available: DJL's " + engine.getEngineName()
                    + " engine sees " + engine.getGpuCount() + " GPU(s) (this build bundles the CPU native library;"
                    + " docs/serving.md, \"GPU\")");
        }
        return forced;
    }

    /** Control's fixed ratio, or in the adaptive mode the ratio the fast loop gave the last batch. */
    private double keepRatioNow() {
        io.vitstream.kafka.ControlMessage c = follower.control();
        return c == null || !c.adaptive() ? follower.keepRatio() : keep.lastKeepRatio(c.keepRatio());
    }

    public WorkerMetrics metrics() {
        return metrics;
    }

    public String workerId() {
        return config.workerId();
    }

    /** Ready when a model is loaded and warm. */
    public boolean ready() {
        return metrics.ready();
    }

    /** Latest heartbeat content (for /health). */
    public io.vitstream.kafka.WorkerStatus status() {
        return follower.status();
    }

    /**
     * The loop of the {@code KafkaConsumer} javadoc: one poll per iteration, then collect -> decode -> infer ->
     * commit. Between batches it first applies a model change the follower has ready.
     */
    @Override
    public void run() {
        if (!lifecycle.compareAndSet(Lifecycle.NEW, Lifecycle.RUNNING)) {
            log.warn("worker {}: run() after close() or a second run(): nothing to do", config.workerId());
            return;
        }
        try {
            committer.initTransactions();
            while (slots.active() == null && !stopping) {
                commitAndSwapModels();
                sleep(50);
            }
            consumer.subscribe(List.of(Topics.IMAGES), committer.dropUncommitted());
            while (!stopping) {
                if (!collector.filling()) {
                    commitAndSwapModels();
                    collector.startBatch();
                }
                ConsumerRecords<String, byte[]> polled = poll(collector.pollTimeout(lanes.busy()));
                collector.add(polled);
                if (collector.ready()) {
                    decodeAndInfer(collector.take());
                }
                // Every lane busy and batches queued behind them: wait for the oldest, then commit what is done.
                committer.commitFinished(lanes.full());
            }
            // A clean stop: what was taken is predicted and committed.
            if (collector.filling()) {
                decodeAndInfer(collector.take());
            }
            committer.commitAll();
        } catch (WakeupException e) {
            if (!stopping) {
                throw e;
            }
            committer.commitAll();
        } catch (org.apache.kafka.common.errors.InterruptException e) {
            // An interrupt is a request to stop, not a broker hiccup: finish what is in the lanes, commit, close.
            // The flag is cleared for that (Kafka's clients refuse to block while it is set) and set again after.
            Thread.interrupted();
            interrupted = true;
            stopping = true;
            log.info("worker {}: interrupted; committing what is done and stopping", config.workerId());
            committer.commitAll();
        } catch (SimulatedCrash e) {
            // Die as a killed process would: the open transaction stays open, nothing is committed or aborted.
            log.warn("worker {}: simulated crash with an open transaction", config.workerId());
            committer.closeNow();
            consumer.close(Duration.ZERO);
            follower.close();
            lanes.close();
            slots.close();
            gcMetrics.close();
            finished.countDown();
            return;
        } catch (ProducerFencedException | InvalidProducerEpochException e) {
            log.error("worker {} was fenced {} times within a minute: another worker runs under the same id; stopping",
                    config.workerId(), TransactionalCommitter.MAX_FENCES);
        } catch (RuntimeException e) {
            log.error("worker {} stopped by an unexpected error", config.workerId(), e);
            throw e;
        } finally {
            if (finished.getCount() > 0) {
                shutdown();
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private ConsumerRecords<String, byte[]> poll(Duration timeout) {
        long pollStart = System.nanoTime();
        ConsumerRecords<String, byte[]> polled = consumer.poll(timeout);
        long now = System.nanoTime();
        metrics.phase(Phase.COLLECT, now - pollStart);
        if (!polled.isEmpty()) {
            lagKnown = false; // a fetch brought records: the lag behind them is new (a burst's first batch must see it)
        }
        long lagNow = lag(now);
        keep.observe(now, collector.received() + lagNow, collector.waiting() + lagNow);
        return polled;
    }

    /**
     * The assigned partitions' lag as the consumer last saw it (no broker call), refreshed every 20 ms and after every
     * poll that returned records.
     */
    private long lag(long nowNanos) {
        if (!lagKnown || nowNanos - lagAtNanos >= LAG_REFRESH_NANOS) {
            lagKnown = true;
            long sum = 0;
            for (org.apache.kafka.common.TopicPartition tp : consumer.assignment()) {
                sum += consumer.currentLag(tp).orElse(0);
            }
            lag = sum;
            lagAtNanos = nowNanos;
        }
        return lag;
    }

    /**
     * Picks the keep ratio for {@code batch} (the fast loop), decodes it for the model that serves it and hands its
     * forward pass to a lane.
     */
    private void decodeAndInfer(List<ConsumerRecord<String, byte[]>> batch) {
        ServingModel m = slots.next(); // the canary for its share of batches, else the active model
        long waiting = collector.waiting() + lag(System.nanoTime());
        KeepChooser.Choice choice = keep.choose(m, m == slots.active(), follower.control(), batch, waiting,
                lanes.unfinishedRecords(), System.currentTimeMillis());
        double keepRatio = m.servable(choice.keepRatio());
        Decoder.Decoded decoded = decoder.decode(batch, m.manifest().input());
        lanes.submit(decoded, m, keepRatio, choice.reason().wire(), choice.predictedBatchMs());
    }

    /**
     * Applies a model change the follower has ready, first committing every batch in the lanes: nothing runs while
     * versions change, so a model is never closed under a forward pass.
     */
    private void commitAndSwapModels() {
        ModelSlots.Change change = slots.pendingChange();
        if (change != null) {
            committer.commitAll();
            slots.apply(change);
        }
    }

    /** Sleeps on the loop thread; an interrupt stops the loop as {@link #close} would (the flag is set again later). */
    private void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            interrupted = true;
            stopping = true;
        }
    }

    /** Test hook: every forward pass first sleeps this long (slow lanes, so batches stay in flight). */
    void delayForwards(long ms) {
        lanes.delayForwards(ms);
    }

    /**
     * Test hook: every forward pass also sleeps {@code msPerImage x images x keep ratio}, inside its measured time (a
     * slow model whose cost scales with the tokens kept, as a real one's does).
     */
    void slowForwards(double msPerImage) {
        lanes.slowForwards(msPerImage);
    }

    /** Test hook: the worker dies at its next commit, leaving the transaction open (like kill -9). */
    void crashAtNextCommit() {
        committer.crashAtNextCommit();
    }

    /** Blocks until the loop has ended and everything is closed. */
    public void awaitStopped() throws InterruptedException {
        finished.await();
    }

    private void shutdown() {
        try {
            consumer.close(); // leaves the group: partitions move to the other workers at once
        } catch (RuntimeException e) {
            log.warn("consumer close: {}", e.toString());
        }
        committer.close();
        follower.close();
        lanes.close(); // waits for a running forward pass before its model is closed
        slots.close();
        gcMetrics.close();
        finished.countDown();
    }

    /**
     * Stops the loop after the current batch (committed or aborted, never left open) and waits for the worker to
     * close its clients and model. Call from another thread (a shutdown hook).
     */
    @Override
    public void close() throws InterruptedException {
        stopping = true;
        if (lifecycle.compareAndSet(Lifecycle.NEW, Lifecycle.CLOSED)) {
            shutdown(); // never ran, and now never will: nothing is in flight, close here
            return;
        }
        if (finished.getCount() > 0) {
            consumer.wakeup();
        }
        finished.await();
    }
}
