package io.vitstream.serving;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.InputSpec;
import io.vitstream.engine.EngineKind;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.Labels;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.model.VitModel;
import io.vitstream.serving.WorkerMetrics.Phase;
import io.vitstream.serving.decode.DecodeException;
import io.vitstream.serving.decode.ImageDecoder;
import io.vitstream.serving.decode.RejectReason;
import io.vitstream.signing.ModelSigning;
import java.nio.charset.StandardCharsets;
import java.security.PublicKey;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One inference worker: consume {@code vit.images} in a consumer group, decode, micro-batch, forward, produce one
 * prediction (or one dead letter) per input, and commit the consumed offsets in the same Kafka transaction
 * (consume-transform-produce, exactly once for read_committed readers). {@link #run()} is the hot path; model
 * versions and the keep ratio come from {@link ModelFollower}, which prepares them off this thread, and are swapped
 * in only between batches, with no batch in the lanes.
 *
 * <p>One loop thread owns the consumer and the transactional producer: it polls, decodes and hands each batch to one
 * of {@code inference.lanes} lanes, then produces and commits finished batches in consumption order while the lanes
 * run the next ones. On a CPU, lanes running one-threaded forward passes side by side beat one forward pass spread
 * over every core by 1.2x (batch 64) to 1.5x (batch 16) for models this small (README, "Serving benchmark"), and the
 * loop's Kafka round trips overlap the matrix products instead of idling the cores.
 */
public final class InferenceWorker implements Runnable, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(InferenceWorker.class);
    private static final Duration IDLE_POLL = Duration.ofMillis(100);
    /** Poll slice while batches are in the lanes: how late a finished batch's commit can start. */
    private static final Duration IN_FLIGHT_POLL = Duration.ofMillis(2);

    private final WorkerConfig config;
    private final WorkerMetrics metrics;
    private final ModelFollower follower;
    private final KafkaConsumer<String, byte[]> consumer;
    private final KafkaProducer<String, byte[]> producer;
    private final JvmGcMetrics gcMetrics = new JvmGcMetrics();
    private final ArrayDeque<ConsumerRecord<String, byte[]>> leftover = new ArrayDeque<>();
    // The batch being collected; a rebalance inside poll() removes the records of partitions this worker lost.
    private final List<ConsumerRecord<String, byte[]>> collecting = new ArrayList<>();
    private final CountDownLatch finished = new CountDownLatch(1);
    // Inference lanes: each runs one batch's forward pass at a time; the loop thread decodes, produces and commits.
    private final int laneCount;
    // Batches in the lanes or queued for them before the loop waits: more than the lanes, so a lane never idles while
    // the loop commits, and several finished batches share one transaction when commits are slow. Two per lane (plus
    // one) served more than one per lane in bench serve; a deeper queue only adds latency under overload.
    private final int maxInFlight;
    private final ExecutorService lanes;
    // Batches handed to the lanes and not committed yet, oldest first (committed strictly in this order).
    private final ArrayDeque<InFlight> inFlight = new ArrayDeque<>();
    private volatile boolean stopping;
    private volatile boolean crashAtNextCommit;
    private volatile long forwardDelayMs;
    private volatile boolean started;
    // Owned by the worker thread: loaded, warm versions; the active one; the canary and its share of batches.
    private final Map<String, ServingModel> models = new HashMap<>();
    private final Map<Integer, ImageDecoder> decoders = new HashMap<>();
    private ServingModel model;
    private ServingModel canary;
    private double canaryShare;
    private double canaryCredit;
    // Dense-teacher sampling (off when null): the teacher scores teacher.sample.share of inputs, spread evenly.
    private final ServingModel teacher;
    private double teacherCredit;
    private boolean teacherInputWarned;

    /** Thrown inside the loop to imitate a process dying between produce and commit. */
    private static final class SimulatedCrash extends RuntimeException {
        SimulatedCrash() {
            super("simulated crash", null, false, false);
        }
    }

    private InferenceWorker(WorkerConfig config, MeterRegistry registry, ServingModel initial, ServingModel teacher,
            int laneCount) {
        this.config = config;
        this.teacher = teacher;
        this.laneCount = laneCount;
        this.maxInFlight = 2 * laneCount + 1;
        AtomicInteger laneIds = new AtomicInteger();
        this.lanes = Executors.newFixedThreadPool(laneCount, r -> {
            Thread t = new Thread(r, "inference-lane-" + config.workerId() + "-" + laneIds.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        this.metrics = new WorkerMetrics();
        metrics.bindTo(registry);
        Map<String, Object> common = new HashMap<>(config.kafka());
        common.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
        PublicKey key = config.publicKey() == null ? null : ModelSigning.readPublicKey(config.publicKey());
        this.follower = new ModelFollower(config, common, key, metrics);

        Map<String, Object> c = new HashMap<>(common);
        c.put(ConsumerConfig.GROUP_ID_CONFIG, config.groupId());
        c.put(ConsumerConfig.CLIENT_ID_CONFIG, "vitstream-worker-" + config.workerId());
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, config.batchMaxSize());
        config.kafka().forEach((k, v) -> c.putIfAbsent(k, v));
        this.consumer = new KafkaConsumer<>(c, new StringDeserializer(), new ByteArrayDeserializer());

        Map<String, Object> p = new HashMap<>(common);
        // Stable per worker id: a restarted worker fences its previous incarnation and aborts its open transaction.
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "vitstream-worker-" + config.workerId());
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "vitstream-worker-" + config.workerId());
        // Predictions are sent only inside a transaction, and commitTransaction() flushes: lingering costs no latency
        // and lets a commit's predictions go out as one produce request instead of one per few records, each of
        // which the broker (on the worker's own cores in the benchmarks) pays for.
        p.put(ProducerConfig.LINGER_MS_CONFIG, 1000);
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024); // hundreds of predictions; a batch reserves this much
        // Dead letters carry the original bytes, up to the image topic's record limit.
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Topics.MAX_IMAGE_RECORD_BYTES + 64 * 1024);
        p.put(ProducerConfig.BUFFER_MEMORY_CONFIG, 4L * Topics.MAX_IMAGE_RECORD_BYTES);
        // Micro-batches take milliseconds; a worker that dies holds read_committed readers back at most this long.
        p.putIfAbsent(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 10_000);
        config.kafka().forEach(p::put);
        this.producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
        new KafkaClientMetrics(consumer).bindTo(registry); // consumer lag and fetch rates
        metrics.keepRatioFrom(follower::keepRatio);
        // The process next to the worker: heap, GC pauses and CPU explain latency outliers on the dashboards.
        new JvmMemoryMetrics().bindTo(registry);
        gcMetrics.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);

        if (initial != null) {
            install(initial);
            follower.held(models.keySet(), initial.version(), null);
            metrics.serving(initial.version(), null);
        }
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
                teacher = ServingModel.load(config.teacherModelDir(), config);
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
                    + " README, \"GPU\")");
        }
        return forced;
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

    @Override
    public void run() {
        started = true;
        try {
            producer.initTransactions();
            while (model == null && !stopping) {
                swapIfReady();
                sleep(50);
            }
            consumer.subscribe(List.of(Topics.IMAGES), new DropUncommitted());
            while (!stopping) {
                swapIfReady();
                List<ConsumerRecord<String, byte[]>> batch = nextBatch();
                if (!batch.isEmpty()) {
                    submit(batch);
                }
                // Every lane busy and batches queued behind them: wait for the oldest, then commit what is done.
                commitFinished(inFlight.size() >= maxInFlight);
            }
            commitAll(); // a clean stop: what was taken is predicted and committed
        } catch (WakeupException e) {
            if (!stopping) {
                throw e;
            }
            commitAll();
        } catch (SimulatedCrash e) {
            // Die as a killed process would: the open transaction stays open, nothing is committed or aborted.
            log.warn("worker {}: simulated crash with an open transaction", config.workerId());
            producer.close(Duration.ZERO);
            consumer.close(Duration.ZERO);
            follower.close();
            awaitLanes();
            closeModel();
            gcMetrics.close();
            finished.countDown();
            return;
        } catch (ProducerFencedException | InvalidProducerEpochException e) {
            log.error("worker {} was fenced by a newer instance with the same id; stopping", config.workerId());
        } catch (RuntimeException e) {
            log.error("worker {} stopped by an unexpected error", config.workerId(), e);
            throw e;
        } finally {
            if (finished.getCount() > 0) {
                shutdown();
            }
        }
    }

    /**
     * Collects up to batch.max.size records, waiting at most batch.max.wait.ms after the first one arrived. While
     * batches are in the lanes it polls in short slices and commits each as soon as its forward pass is done, so a
     * finished batch never waits for the next one to fill.
     */
    private List<ConsumerRecord<String, byte[]>> nextBatch() {
        List<ConsumerRecord<String, byte[]>> batch = collecting;
        batch.clear();
        while (!leftover.isEmpty() && batch.size() < config.batchMaxSize()) {
            batch.add(leftover.poll());
        }
        long first = batch.isEmpty() ? -1 : System.nanoTime();
        while (batch.size() < config.batchMaxSize() && !stopping) {
            Duration wait = IDLE_POLL;
            if (first >= 0) {
                long leftMs = config.batchMaxWaitMs() - (System.nanoTime() - first) / 1_000_000;
                if (leftMs <= 0) {
                    break;
                }
                wait = Duration.ofMillis(leftMs);
            }
            if (!inFlight.isEmpty() && wait.compareTo(IN_FLIGHT_POLL) > 0) {
                wait = IN_FLIGHT_POLL;
            }
            long pollStart = System.nanoTime();
            ConsumerRecords<String, byte[]> polled = consumer.poll(wait);
            metrics.phase(Phase.COLLECT, System.nanoTime() - pollStart);
            for (ConsumerRecord<String, byte[]> r : polled) {
                if (batch.size() < config.batchMaxSize()) {
                    batch.add(r);
                } else {
                    leftover.add(r); // over the batch size: first in the next batch, offsets not committed yet
                }
            }
            if (!commitFinished(false)) {
                return List.of(); // aborted: everything uncommitted, this batch too, is read again
            }
            if (first < 0) {
                if (batch.isEmpty()) {
                    break; // idle: go back to the loop top (swaps, stop)
                }
                first = System.nanoTime();
            }
        }
        List<ConsumerRecord<String, byte[]>> out = List.copyOf(batch);
        batch.clear();
        return out;
    }

    private record Accepted(ConsumerRecord<String, byte[]> record, String id, Integer label) {}

    private record Rejected(ConsumerRecord<String, byte[]> record, String id, RejectReason reason, String detail) {}

    /** A lane's result: logits (null when the forward pass failed), when it started, how long it took. */
    private record Forward(float[][] logits, long startMs, double inferenceMs, Integer[] teacherClasses,
            RuntimeException error) {}

    /**
     * A decoded batch handed to the lanes and not yet committed. Records of partitions revoked from this worker
     * meanwhile ({@code dropped}) are neither produced nor committed: their new owner reads them again.
     */
    private static final class InFlight {
        final List<ConsumerRecord<String, byte[]>> records;
        final ServingModel model;
        final double keepRatio;
        final List<Accepted> accepted;
        final List<Rejected> rejected;
        final Future<Forward> forward;
        final Set<TopicPartition> dropped = new HashSet<>();

        InFlight(List<ConsumerRecord<String, byte[]>> records, ServingModel model, double keepRatio,
                List<Accepted> accepted, List<Rejected> rejected, Future<Forward> forward) {
            this.records = records;
            this.model = model;
            this.keepRatio = keepRatio;
            this.accepted = accepted;
            this.rejected = rejected;
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

    /** Decodes {@code batch} on this thread and hands its forward pass to a lane. */
    private void submit(List<ConsumerRecord<String, byte[]>> batch) {
        long phaseStart = System.nanoTime();
        ServingModel m = pickModel();
        ImageDecoder decoder = decoderFor(m);
        double keepRatio = m.servable(follower.keepRatio());
        InputSpec spec = m.manifest().input();

        List<Accepted> accepted = new ArrayList<>(batch.size());
        List<Rejected> rejected = new ArrayList<>();
        float[] pixels = new float[batch.size() * spec.pixels()];
        for (ConsumerRecord<String, byte[]> r : batch) {
            String id = r.key() != null ? r.key() : UUID.randomUUID().toString();
            try {
                byte[] grey = decoder.decode(r.value(), header(r.headers(), Topics.HEADER_CONTENT_TYPE));
                spec.normalize(grey, 0, pixels, accepted.size() * spec.pixels());
                accepted.add(new Accepted(r, id, label(r.headers())));
            } catch (DecodeException e) {
                rejected.add(new Rejected(r, id, e.reason(), e.getMessage()));
            }
        }
        int n = accepted.size();
        float[] x = n == batch.size() ? pixels : Arrays.copyOf(pixels, n * spec.pixels());
        int[] teacherPicks = teacherPicks(n, spec);
        Future<Forward> forward = n == 0 ? CompletableFuture.completedFuture(
                new Forward(new float[0][], System.currentTimeMillis(), 0, new Integer[0], null))
                : lanes.submit(() -> forward(m, x, n, keepRatio, teacherPicks));
        inFlight.add(new InFlight(batch, m, keepRatio, accepted, rejected, forward));
        metrics.phase(Phase.DECODE, System.nanoTime() - phaseStart);
    }

    /** Runs on a lane: the served model's forward pass, then the teacher's on the sampled inputs. */
    private Forward forward(ServingModel m, float[] x, int n, double keepRatio, int[] teacherPicks) {
        if (forwardDelayMs > 0) {
            sleepQuietly(forwardDelayMs);
        }
        long startMs = System.currentTimeMillis();
        long t0 = System.nanoTime();
        try {
            float[][] logits = m.logits(x, n, keepRatio);
            double inferenceMs = (System.nanoTime() - t0) / 1e6;
            Integer[] teacherClasses = teacherClasses(x, n, teacherPicks, m.manifest().input());
            metrics.phase(Phase.FORWARD, System.nanoTime() - t0);
            return new Forward(logits, startMs, inferenceMs, teacherClasses, null);
        } catch (RuntimeException e) {
            metrics.phase(Phase.FORWARD, System.nanoTime() - t0);
            return new Forward(null, startMs, (System.nanoTime() - t0) / 1e6, null, e);
        }
    }

    /**
     * Commits the oldest batches whose forward passes are done, in consumption order, in one transaction; with
     * {@code block}, first waits for the oldest. Offsets are committed strictly in order, so a batch that finished
     * early waits for the one before it. Returns false when the transaction was aborted: everything uncommitted was
     * dropped and will be read again from the committed offsets.
     */
    private boolean commitFinished(boolean block) {
        if (inFlight.isEmpty()) {
            return true;
        }
        if (block && !inFlight.peek().forward.isDone()) {
            long t0 = System.nanoTime();
            inFlight.peek().result();
            metrics.phase(Phase.WAIT, System.nanoTime() - t0);
        }
        List<InFlight> done = new ArrayList<>();
        while (!inFlight.isEmpty() && inFlight.peek().forward.isDone()) {
            done.add(inFlight.poll());
        }
        return done.isEmpty() || commit(done);
    }

    /** Waits for every batch in the lanes and commits them (before a swap, at a clean stop). */
    private void commitAll() {
        while (!inFlight.isEmpty()) {
            commitFinished(true);
        }
    }

    /** produce -> commit of finished batches, in one transaction with their offsets. */
    private boolean commit(List<InFlight> done) {
        long phaseStart = System.nanoTime();
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        List<Sent> predictions = new ArrayList<>();
        List<Rejected> deadLetters = new ArrayList<>();
        try {
            for (InFlight f : done) {
                for (ConsumerRecord<String, byte[]> r : f.records) {
                    if (f.kept(r)) {
                        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                        offsets.merge(tp, new OffsetAndMetadata(r.offset() + 1),
                                (a, b) -> a.offset() >= b.offset() ? a : b);
                    }
                }
            }
            if (offsets.isEmpty()) {
                return true; // every record went to another worker in a rebalance
            }
            producer.beginTransaction();
            for (InFlight f : done) {
                Forward fw = f.result();
                List<Rejected> rejected = new ArrayList<>(f.rejected);
                if (fw.error() != null) {
                    // A failing forward pass is not the inputs' fault, but they must not vanish: dead-letter them.
                    log.error("forward pass failed on a batch of {}", f.accepted.size(), fw.error());
                    for (Accepted a : f.accepted) {
                        rejected.add(new Rejected(a.record(), a.id(), RejectReason.INFERENCE_ERROR,
                                String.valueOf(fw.error())));
                    }
                }
                for (Rejected r : rejected) {
                    if (f.kept(r.record())) {
                        producer.send(deadLetter(r));
                        deadLetters.add(r);
                    }
                }
                if (fw.error() != null) {
                    continue;
                }
                List<Integer> tokens = f.model.tokensKept(f.keepRatio);
                long flops = f.model.flops(f.keepRatio);
                int tokenSum = tokens.stream().mapToInt(Integer::intValue).sum();
                for (int i = 0; i < f.accepted.size(); i++) {
                    Accepted a = f.accepted.get(i);
                    if (!f.kept(a.record())) {
                        continue;
                    }
                    long now = System.currentTimeMillis();
                    Prediction p = prediction(a, f.model, fw.logits()[i], f.keepRatio, tokens, flops, fw.startMs(),
                            fw.inferenceMs(), now, fw.teacherClasses()[i]);
                    predictions.add(new Sent(p, f.keepRatio, tokenSum, flops));
                    producer.send(new ProducerRecord<>(Topics.PREDICTIONS, a.id(), Prediction.SERDE.serialize(null, p)));
                }
            }
            producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
            if (crashAtNextCommit) {
                producer.flush(); // the worst case: the predictions are in the log, the commit never comes
                throw new SimulatedCrash();
            }
            phaseStart = phaseDone(Phase.PRODUCE, phaseStart);
            producer.commitTransaction();
            phaseDone(Phase.COMMIT, phaseStart);
        } catch (ProducerFencedException | InvalidProducerEpochException | AuthorizationException | SimulatedCrash e) {
            throw e; // fatal for this producer
        } catch (KafkaException e) {
            // Rebalance in between, broker hiccup: nothing of these batches is visible; read them again from the commit.
            log.warn("transaction aborted, re-reading the uncommitted batches: {}", e.toString());
            metrics.aborted(e.getClass().getSimpleName());
            producer.abortTransaction();
            discardUncommitted();
            return false;
        }
        for (InFlight f : done) {
            metrics.batch(f.records.size());
        }
        for (Rejected r : deadLetters) {
            metrics.rejected(r.reason());
        }
        for (Sent x : predictions) {
            Prediction p = x.prediction();
            metrics.predicted(p.modelVersion(), x.keepRatio(), p.queueMs(), p.inferenceMs(), p.endToEndMs(), x.tokens(),
                    x.flops());
        }
        return true;
    }

    /** A prediction sent in the open transaction, with what its metrics need once it is committed. */
    private record Sent(Prediction prediction, double keepRatio, int tokens, long flops) {}

    /** After an abort: waits for the lanes, forgets every uncommitted record and seeks back to the committed offsets. */
    private void discardUncommitted() {
        awaitLanesIdle();
        inFlight.clear();
        collecting.clear();
        rewindToCommitted();
    }

    /** Blocks until every submitted forward pass has finished (a model must never be closed under a lane). */
    private void awaitLanesIdle() {
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

    /** Records the phase that began at {@code start} and returns now, the start of the next one. */
    private long phaseDone(Phase phase, long start) {
        long now = System.nanoTime();
        metrics.phase(phase, now - start);
        return now;
    }

    private Prediction prediction(Accepted a, ServingModel m, float[] logits, double keepRatio, List<Integer> tokens,
            long flops, long batchStartMs, double inferenceMs, long nowMs, Integer teacherClass) {
        double[] prob = softmax(logits);
        Integer[] order = new Integer[prob.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (x, y) -> Double.compare(prob[y], prob[x]));
        List<String> names = m.manifest().classNames();
        List<Prediction.TopK> top = new ArrayList<>();
        for (int i = 0; i < Math.min(config.topK(), order.length); i++) {
            top.add(new Prediction.TopK(order[i], names.get(order[i]), prob[order[i]]));
        }
        long ts = a.record().timestamp();
        return new Prediction(Prediction.SCHEMA, a.id(), order[0], names.get(order[0]), top, m.version(), keepRatio,
                tokens, flops, Math.max(0, batchStartMs - ts), inferenceMs, Math.max(0, nowMs - ts),
                config.workerId(), Instant.ofEpochMilli(nowMs).toString(), a.label(), teacherClass);
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
                        config.workerId(), teacher.version(), teacher.manifest().input(), spec);
                teacherInputWarned = true;
            }
            return new int[0];
        }
        int[] picked = new int[n];
        int k = 0;
        for (int i = 0; i < n; i++) {
            teacherCredit += config.teacherSampleShare();
            if (teacherCredit >= 1.0) {
                teacherCredit -= 1.0;
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

    private static double[] softmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double sum = 0;
        double[] p = new double[logits.length];
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.exp(logits[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    private static ProducerRecord<String, byte[]> deadLetter(Rejected r) {
        Headers h = new RecordHeaders(r.record().headers().toArray());
        h.remove(Topics.HEADER_ERROR);
        h.add(Topics.HEADER_ERROR, r.reason().wire().getBytes(StandardCharsets.UTF_8));
        h.add(Topics.HEADER_ERROR_DETAIL, r.detail().getBytes(StandardCharsets.UTF_8));
        if (r.record().key() == null) {
            h.add(Topics.HEADER_REQUEST_ID, r.id().getBytes(StandardCharsets.UTF_8));
        }
        // The original key and bytes, unchanged: a fixed input can be replayed as it is.
        return new ProducerRecord<>(Topics.DLQ, null, r.record().key(), r.record().value(), h);
    }

    private static Map<TopicPartition, OffsetAndMetadata> nextOffsets(List<ConsumerRecord<String, byte[]>> batch) {
        Map<TopicPartition, OffsetAndMetadata> out = new HashMap<>();
        for (ConsumerRecord<String, byte[]> r : batch) {
            TopicPartition tp = new TopicPartition(r.topic(), r.partition());
            OffsetAndMetadata cur = out.get(tp);
            if (cur == null || cur.offset() < r.offset() + 1) {
                out.put(tp, new OffsetAndMetadata(r.offset() + 1));
            }
        }
        return out;
    }

    private void rewindToCommitted() {
        leftover.clear();
        Set<TopicPartition> assigned = consumer.assignment();
        Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(assigned);
        for (TopicPartition tp : assigned) {
            OffsetAndMetadata o = committed.get(tp);
            if (o != null) {
                consumer.seek(tp, o);
            } else {
                consumer.seekToBeginning(List.of(tp));
            }
        }
    }

    /** Records of partitions this worker loses were never committed here: their new owner reads them again. */
    private final class DropUncommitted implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            // Never commit a revoked partition's records: the generation check would pass (it is per member, not
            // per partition) and the new owner, which starts from the last commit, would predict them again.
            for (InFlight f : inFlight) {
                f.dropped.addAll(partitions);
            }
            leftover.removeIf(r -> partitions.contains(new TopicPartition(r.topic(), r.partition())));
            collecting.removeIf(r -> partitions.contains(new TopicPartition(r.topic(), r.partition())));
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {}

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            onPartitionsRevoked(partitions);
        }
    }

    /**
     * Between batches: takes what the follower has loaded, makes control's active version (and canary) current once
     * loaded, and closes versions nobody wants any more. A version not loaded yet, or refused, leaves the current
     * one serving.
     */
    private void swapIfReady() {
        List<ServingModel> fresh = follower.takeReady();
        ControlMessage d = follower.desired();
        if (fresh.isEmpty() && java.util.Objects.equals(d, lastApplied)) {
            return;
        }
        commitAll(); // nothing in the lanes while versions change: a model is never closed under a forward pass
        lastApplied = d;
        for (ServingModel m : fresh) {
            ServingModel old = models.put(m.version(), m);
            if (old != null && old != model && old != canary) {
                old.close();
            }
        }
        if (d != null) {
            ServingModel active = models.get(d.activeVersion());
            if (active != null && active != model) {
                String was = model == null ? "nothing" : model.version();
                install(active);
                metrics.swapped(active.version());
                log.info("worker {}: now serving {} (was {})", config.workerId(), active.version(), was);
            }
            List<String> wanted = ModelFollower.wanted(d);
            canary = wanted.size() > 1 ? models.get(wanted.get(1)) : null;
            canaryShare = canary == null ? 0 : d.canaryShare();
        }
        for (var it = models.entrySet().iterator(); it.hasNext(); ) {
            ServingModel m = it.next().getValue();
            if (m != model && m != canary && (d == null || !ModelFollower.wanted(d).contains(m.version()))) {
                m.close(); // only this thread runs models, and no batch is in flight here
                it.remove();
            }
        }
        follower.held(models.keySet(), model == null ? null : model.version(), canary == null ? null : canary.version());
        metrics.serving(model == null ? null : model.version(), canary == null ? null : canary.version());
    }

    private ControlMessage lastApplied;

    private void install(ServingModel m) {
        models.put(m.version(), m);
        model = m;
        metrics.setReady(true);
    }

    /** The model for the next batch: the canary for its share of batches (spread evenly, no randomness), else active. */
    private ServingModel pickModel() {
        if (canary != null) {
            canaryCredit += canaryShare;
            if (canaryCredit >= 1.0) {
                canaryCredit -= 1.0;
                return canary;
            }
        }
        return model;
    }

    private ImageDecoder decoderFor(ServingModel m) {
        return decoders.computeIfAbsent(m.inputSize(),
                size -> new ImageDecoder(size, config.inputMaxBytes(), config.inputMaxPixels()));
    }

    private static String header(Headers headers, String name) {
        Header h = headers.lastHeader(name);
        return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    /** The input's label header; a bad one only disables accuracy for this input (the image is still classified). */
    private static Integer label(Headers headers) {
        return Labels.parse(header(headers, Topics.HEADER_LABEL));
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new WakeupException();
        }
    }

    /** Test hook: every forward pass first sleeps this long (slow lanes, so batches stay in flight). */
    void delayForwards(long ms) {
        forwardDelayMs = ms;
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Test hook: the worker dies at its next commit, leaving the transaction open (like kill -9). */
    void crashAtNextCommit() {
        crashAtNextCommit = true;
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
        try {
            producer.close(Duration.ofSeconds(5));
        } catch (RuntimeException e) {
            log.warn("producer close: {}", e.toString());
        }
        follower.close();
        awaitLanes();
        closeModel();
        gcMetrics.close();
        finished.countDown();
    }

    /** Stops the lanes and waits for a running forward pass to end before its model is closed. */
    private void awaitLanes() {
        lanes.shutdown();
        try {
            if (!lanes.awaitTermination(1, TimeUnit.MINUTES)) {
                log.warn("worker {}: a forward pass still runs after a minute; closing anyway", config.workerId());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void closeModel() {
        metrics.setReady(false);
        metrics.serving(null, null);
        models.values().forEach(ServingModel::close);
        models.clear();
        if (teacher != null) {
            teacher.close();
        }
        model = null;
        canary = null;
    }

    /**
     * Stops the loop after the current batch (committed or aborted, never left open) and waits for the worker to
     * close its clients and model. Call from another thread (a shutdown hook).
     */
    @Override
    public void close() throws InterruptedException {
        stopping = true;
        consumer.wakeup();
        if (!started) {
            shutdown(); // never ran: nothing is in flight, close here
            return;
        }
        finished.await();
    }
}
