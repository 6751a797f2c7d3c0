package io.vitstream.serving;

import io.vitstream.util.FileTrees;
import io.vitstream.artifact.ArtifactException;
import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.engine.onnx.UnsupportedModelException;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.ModelRecords;
import io.vitstream.kafka.Topics;
import io.vitstream.kafka.WorkerStatus;
import io.vitstream.serving.adapt.KeepChooser;
import io.vitstream.signing.ModelSigning;
import io.vitstream.util.Json;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PublicKey;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows the compacted {@code vit.control} and {@code vit.models} topics from the beginning (no consumer group: every
 * worker reads all of them) and prepares the version that control asks for: reassembles its chunks, checks the
 * Ed25519 signature of the manifest bytes, the weights' size and sha256 and every weight's shape (ModelArtifact),
 * loads and warms it up on a loader thread, then offers it to the worker, which swaps it in between batches. A
 * version failing any check is refused (metrics, status, log) and the serving one stays. Also sends the heartbeats
 * to {@code vit.worker-status}.
 */
final class ModelFollower implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ModelFollower.class);

    private final WorkerConfig config;
    private final PublicKey publicKey;
    private final WorkerMetrics metrics;
    private final Map<String, Object> kafka;
    private final Thread thread;
    private final ExecutorService loader;
    private volatile boolean running = true;
    private volatile KafkaConsumer<String, byte[]> consumer;
    private final KafkaProducer<String, byte[]> statusProducer;

    // Owned by the follower thread.
    private final Map<String, StoredVersion> store = new HashMap<>();
    private final Map<String, String> refused = java.util.Collections.synchronizedMap(new LinkedHashMap<>());
    private volatile long nextHeartbeat;

    // Shared with the worker thread and the HTTP threads.
    private java.util.function.DoubleConsumer beforeKeepRatio = r -> { };
    private java.util.function.DoubleSupplier servedKeepRatio = this::keepRatio;
    private java.util.function.Supplier<WorkerStatus.Load> load = () -> null;
    /** Health when the follower's loop has died: serving goes on, but no new control or version reaches it. */
    static final String UNHEALTHY = "unhealthy";
    private volatile boolean dead;
    private volatile ControlMessage desired;
    private volatile String loading;
    private volatile String serving;
    private volatile String servingCanary;
    private volatile Set<String> held = Set.of();
    private volatile String lastError;
    private volatile boolean stopped;
    private final ConcurrentLinkedQueue<ServingModel> ready = new ConcurrentLinkedQueue<>();
    private final Set<String> queued = ConcurrentHashMap.newKeySet();

    /** What {@code vit.models} holds for one version so far. */
    private static final class StoredVersion {
        byte[] manifest;
        byte[] signature;
        int chunks = -1;
        final TreeMap<Integer, byte[]> parts = new TreeMap<>();

        boolean complete() {
            return manifest != null && chunks >= 0 && parts.size() == chunks && (chunks == 0 || parts.lastKey() == chunks - 1);
        }
    }

    ModelFollower(WorkerConfig config, Map<String, Object> kafkaClientSettings, PublicKey publicKey,
            WorkerMetrics metrics) {
        this.config = config;
        this.publicKey = publicKey;
        this.metrics = metrics;
        this.kafka = kafkaClientSettings;
        Map<String, Object> p = new HashMap<>(kafkaClientSettings);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "vitstream-status-" + config.workerId());
        this.statusProducer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
        this.loader = Executors.newSingleThreadExecutor(r -> new Thread(r, "model-loader-" + config.workerId()));
        this.thread = new Thread(this::loop, "model-follower-" + config.workerId());
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    /**
     * What the worker holds now (called by the worker thread after every change): loaded versions, the active one
     * and the canary (or null).
     */
    void held(Set<String> versions, String active, String canary) {
        boolean changed = !java.util.Objects.equals(active, serving) || !java.util.Objects.equals(canary, servingCanary);
        this.held = Set.copyOf(versions);
        // Taken models are now held or dropped; only those still in the queue stay "queued". (A load in flight is
        // guarded by `loading`, so one that is queued but not yet in the queue is not loaded twice.)
        queued.removeIf(v -> ready.stream().noneMatch(m -> m.version().equals(v)));
        this.serving = active;
        this.servingCanary = canary;
        if (changed) {
            heartbeatSoon();
        }
    }

    /** Loaded, warm models ready to be swapped in. The caller owns (and must close) what it takes. */
    List<ServingModel> takeReady() {
        List<ServingModel> out = new ArrayList<>();
        for (ServingModel m; (m = ready.poll()) != null; ) {
            out.add(m);
        }
        return out;
    }

    /** The desired state from vit.control, or null before the first valid control message. */
    ControlMessage desired() {
        return desired;
    }

    /**
     * Runs on the follower's thread before a new keep ratio from control is handed to the loop (the worker builds the
     * ratio's graphs in it); set before {@link #start}.
     */
    void beforeKeepRatio(java.util.function.DoubleConsumer hook) {
        this.beforeKeepRatio = hook;
    }

    /**
     * Where the heartbeat reads the keep ratio batches run at now and the load the fast loop sees (instead of control's
     * ratio and no load); set before {@link #start}.
     */
    void heartbeatFrom(java.util.function.DoubleSupplier servedKeepRatio,
            java.util.function.Supplier<WorkerStatus.Load> load) {
        this.servedKeepRatio = servedKeepRatio;
        this.load = load;
    }

    /** Keep ratio in force: control's, or 1.0 before any control message. */
    double keepRatio() {
        ControlMessage c = desired;
        return c == null ? 1.0 : c.keepRatio();
    }

    /** The control message in force, or null before the first one. */
    ControlMessage control() {
        return desired;
    }

    /**
     * The keep ratios a batch may run at under {@code c}: its fixed ratio, or the chooser's grid between the floor and
     * the ceiling, the starting ratio first (built first); 1.0 alone before any control message.
     */
    static List<Double> keepRatios(ControlMessage c) {
        if (c == null) {
            return List.of(1.0);
        }
        if (!c.adaptive()) {
            return List.of(c.keepRatio());
        }
        List<Double> out = new ArrayList<>();
        out.add(c.keepRatio());
        for (double r : KeepChooser.grid(c.floor(), c.ceiling())) {
            if (!out.contains(r)) {
                out.add(r);
            }
        }
        return out;
    }

    String lastError() {
        return lastError;
    }

    private void heartbeatSoon() {
        nextHeartbeat = 0;
    }

    private void loop() {
        Map<String, Object> p = Topics.compactedReader(kafka, "vitstream-follower-" + config.workerId());
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(),
                new ByteArrayDeserializer())) {
            consumer = c;
            List<TopicPartition> tps = new ArrayList<>();
            for (String topic : List.of(Topics.CONTROL, Topics.MODELS)) {
                c.partitionsFor(topic, Duration.ofSeconds(30)).forEach(i -> tps.add(new TopicPartition(topic, i.partition())));
            }
            c.assign(tps);
            c.seekToBeginning(tps);
            while (running) {
                for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
                    if (r.topic().equals(Topics.CONTROL)) {
                        onControl(r);
                    } else {
                        onModelRecord(r);
                    }
                }
                maybeLoad();
                if (System.currentTimeMillis() >= nextHeartbeat) {
                    heartbeat();
                }
            }
        } catch (WakeupException e) {
            if (running) {
                throw e;
            }
        } catch (RuntimeException e) {
            lastError = "model follower stopped: " + e;
            dead = true;
            heartbeatSoon();
            log.error("model follower stopped; the worker keeps serving its current model but follows neither"
                    + " vit.control nor vit.models any more: health is unhealthy", e);
        }
    }

    private void onControl(ConsumerRecord<String, byte[]> r) {
        if (!Topics.CONTROL_KEY.equals(r.key()) || r.value() == null) {
            return;
        }
        try {
            ControlMessage m = ControlMessage.SERDE.parse(r.value());
            String problem = m.problem();
            if (problem != null) {
                error("ignored control message at offset " + r.offset() + ": " + problem);
                return;
            }
            if (desired == null || !desired.equals(m)) {
                log.info("control: active version {}, {}", m.activeVersion(), m.adaptive()
                        ? "keep ratio chosen per batch in [" + m.floor() + ", " + m.ceiling() + "] for an SLO of "
                                + m.sloMs() + " ms"
                        : "keep ratio " + m.keepRatio());
                heartbeatSoon();
            }
            List<Double> before = desired == null ? List.of() : keepRatios(desired);
            for (double ratio : keepRatios(m)) {
                if (!before.contains(ratio)) {
                    // Built here, off the hot path, while the loop keeps serving the ratios it has.
                    beforeKeepRatio.accept(ratio);
                }
            }
            desired = m;
        } catch (RuntimeException e) {
            error("ignored unreadable control message at offset " + r.offset() + ": " + e.getMessage());
        }
    }

    private void onModelRecord(ConsumerRecord<String, byte[]> r) {
        String key = r.key();
        int slash = key == null ? -1 : key.lastIndexOf('/');
        if (slash < 1) {
            return;
        }
        String version = key.substring(0, slash);
        String part = key.substring(slash + 1);
        if (r.value() == null) { // tombstone: the version was deleted
            store.remove(version);
            return;
        }
        StoredVersion v = store.computeIfAbsent(version, k -> new StoredVersion());
        if (part.equals("manifest")) {
            v.manifest = r.value();
            v.signature = decodeSignature(r.headers().lastHeader(ModelRecords.HEADER_SIGNATURE));
            Header chunks = r.headers().lastHeader(ModelRecords.HEADER_CHUNKS);
            v.chunks = parseInt(chunks == null ? null : new String(chunks.value(), StandardCharsets.US_ASCII));
            // A republished version gets a fresh chance.
            refused.remove(version);
        } else {
            int index = parseInt(part);
            if (index >= 0) {
                v.parts.put(index, r.value());
            }
        }
    }

    private static byte[] decodeSignature(Header h) {
        if (h == null) {
            return null;
        }
        try {
            return Base64.getDecoder().decode(h.value());
        } catch (IllegalArgumentException e) {
            return new byte[0];
        }
    }

    private static int parseInt(String s) {
        try {
            return s == null ? -1 : Integer.parseInt(s);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Versions control wants loaded: the active one and, with a positive share, the canary. */
    static List<String> wanted(ControlMessage d) {
        if (d == null) {
            return List.of();
        }
        if (d.canaryVersion() != null && d.canaryShare() != null && d.canaryShare() > 0
                && !d.canaryVersion().equals(d.activeVersion())) {
            return List.of(d.activeVersion(), d.canaryVersion());
        }
        return List.of(d.activeVersion());
    }

    private void maybeLoad() {
        if (loading != null) {
            return;
        }
        String want = null;
        for (String w : wanted(desired)) {
            StoredVersion v = store.get(w);
            // Not (fully) published yet: keep serving and wait.
            if (!held.contains(w) && !queued.contains(w) && !refused.containsKey(w) && v != null && v.complete()) {
                want = w;
                break;
            }
        }
        if (want == null) {
            return;
        }
        StoredVersion v = store.get(want);
        loading = want;
        byte[] manifest = v.manifest;
        byte[] signature = v.signature;
        List<byte[]> parts = new ArrayList<>(v.parts.values());
        String version = want;
        loader.submit(() -> load(version, manifest, signature, parts));
    }

    /** On the loader thread: check, load and warm up one version, then offer it to the worker. */
    private void load(String version, byte[] manifestJson, byte[] signature, List<byte[]> parts) {
        Path dir = null;
        try {
            if (publicKey == null) {
                refuse(version, "no_public_key", "no model.public.key is configured, so no published model is trusted");
                return;
            }
            if (signature == null) {
                refuse(version, "unsigned", "manifest has no signature header");
                return;
            }
            if (!ModelSigning.verify(manifestJson, signature, publicKey)) {
                refuse(version, "bad_signature", "the manifest's Ed25519 signature does not verify with "
                        + config.publicKey());
                return;
            }
            Manifest m;
            try {
                m = Json.MAPPER.readValue(manifestJson, Manifest.class);
            } catch (IOException e) {
                refuse(version, "invalid_manifest", "manifest is not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
                return;
            }
            if (m.weights() == null || !version.equals(m.version())) {
                refuse(version, "invalid_manifest", "manifest version " + m.version() + " under key " + version);
                return;
            }
            dir = Files.createTempDirectory("vitstream-model-");
            Files.write(dir.resolve(ModelArtifact.MANIFEST_FILE), manifestJson);
            ByteArrayOutputStream weights = new ByteArrayOutputStream();
            for (byte[] part : parts) {
                weights.write(part);
            }
            Files.write(dir.resolve(m.weights().file()), weights.toByteArray());
            ServingModel model;
            try {
                model = ServingModel.load(dir, config); // checks size, sha256, names, shapes
            } catch (ArtifactException e) {
                String msg = e.getMessage();
                refuse(version, msg.contains("sha256") || msg.contains("size") ? "checksum" : "invalid_weights", msg);
                return;
            } catch (UnsupportedModelException e) {
                refuse(version, "unsupported", e.getMessage());
                return;
            }
            try {
                model.warmUp(config.batchMaxSize(), keepRatios(desired));
            } catch (RuntimeException e) {
                model.close();
                refuse(version, "warmup_failed", String.valueOf(e.getMessage()));
                return;
            }
            queued.add(version);
            ready.add(model);
            log.info("version {} verified, loaded and warm; swapping in at the next batch", version);
        } catch (IOException | RuntimeException e) {
            refuse(version, "load_error", e.toString());
        } finally {
            if (dir != null) {
                FileTrees.deleteQuietly(dir);
            }
            loading = null;
        }
    }

    private void refuse(String version, String reason, String detail) {
        String msg = "refused model version " + version + " (" + reason + "): " + detail;
        log.warn(msg);
        metrics.swapFailed(reason);
        refused.put(version, reason);
        lastError = msg.replace('\n', ' ');
        heartbeatSoon();
    }

    private void error(String msg) {
        log.warn(msg);
        lastError = msg;
    }

    String health() {
        if (stopped) {
            return "stopped";
        }
        if (dead) {
            return UNHEALTHY;
        }
        if (serving == null) {
            return "starting";
        }
        for (String w : wanted(desired)) {
            if (refused.containsKey(w)) {
                return "degraded";
            }
        }
        return "serving";
    }

    WorkerStatus status() {
        ControlMessage d = desired;
        List<String> refusedList;
        synchronized (refused) {
            refusedList = refused.entrySet().stream().map(e -> e.getKey() + ": " + e.getValue()).toList();
        }
        return new WorkerStatus(WorkerStatus.SCHEMA, config.workerId(), health(), serving, servingCanary,
                d == null ? null : d.activeVersion(), servedKeepRatio.getAsDouble(), refusedList, lastError,
                metrics.imagesPredicted(), Instant.now().toString(), load.get());
    }

    private void heartbeat() {
        statusProducer.send(new ProducerRecord<>(Topics.WORKER_STATUS, config.workerId(),
                WorkerStatus.SERDE.serialize(Topics.WORKER_STATUS, status())), (md, e) -> {
                    if (e != null) {
                        log.warn("heartbeat not sent: {}", e.toString());
                    }
                });
        nextHeartbeat = System.currentTimeMillis() + config.heartbeatMs();
    }

    /** Stops following, closes any model not yet taken and sends a last "stopped" heartbeat. */
    @Override
    public void close() {
        running = false;
        KafkaConsumer<String, byte[]> c = consumer;
        if (c != null) {
            c.wakeup();
        }
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        loader.shutdownNow();
        try {
            loader.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        takeReady().forEach(ServingModel::close);
        stopped = true;
        try {
            heartbeat();
            statusProducer.flush();
        } finally {
            statusProducer.close(Duration.ofSeconds(5));
        }
    }
}
