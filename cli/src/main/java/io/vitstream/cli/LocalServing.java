package io.vitstream.cli;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.controller.Controller;
import io.vitstream.controller.ControllerConfig;
import io.vitstream.controller.job.PruneRunner;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.ModelRecords;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Publisher;
import io.vitstream.serving.HttpEndpoints;
import io.vitstream.serving.InferenceWorker;
import io.vitstream.serving.WorkerConfig;
import io.vitstream.signing.ModelSigning;
import io.vitstream.testkit.KafkaBroker;
import io.vitstream.util.FileTrees;
import io.vitstream.util.UserError;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The serving path on this machine, for the demo and the serving benchmark: an embedded broker, a model signed and
 * published to {@code vit.models} and activated, one in-process worker with its HTTP endpoints, and on request the
 * controller ({@link #startController}).
 */
public final class LocalServing implements AutoCloseable {
    /** Name of the worker loop's thread. */
    public static final String WORKER_THREAD = "inference-local";
    /** Group id prefix of {@link #consumer} readers; it also names their consumers' background threads. */
    public static final String READER_GROUP = "local-reader";
    public final KafkaBroker broker;
    public final InferenceWorker worker;
    public final HttpEndpoints http;
    /** The worker's meters (the benchmarks read its phase timers). */
    public final PrometheusMeterRegistry registry;
    public final String version;
    private final Path tmp;
    private final Thread loop;
    private Controller controller;
    /** The admin token of the controller started by {@link #startController}. */
    public String adminToken;

    private LocalServing(KafkaBroker broker, InferenceWorker worker, HttpEndpoints http,
            PrometheusMeterRegistry registry, String version, Path tmp, Thread loop) {
        this.broker = broker;
        this.worker = worker;
        this.http = http;
        this.registry = registry;
        this.version = version;
        this.tmp = tmp;
        this.loop = loop;
    }

    /** Starts everything; {@code onBroker} hears the bootstrap address as soon as the broker is up. */
    public static LocalServing start(Path model, double keepRatio, int batchMaxSize, java.util.function.Consumer<String> onBroker)
            throws IOException {
        return start(model, keepRatio, batchMaxSize, Map.of(), onBroker);
    }

    /** As above, with further worker settings ({@code teacher.model.dir} ...) over the defaults. */
    public static LocalServing start(Path model, double keepRatio, int batchMaxSize, Map<String, String> workerSettings,
            java.util.function.Consumer<String> onBroker) throws IOException {
        Path tmp = Files.createTempDirectory("vitstream-local");
        KafkaBroker broker;
        try {
            broker = KafkaBroker.start(4);
        } catch (UncheckedIOException e) {
            FileTrees.deleteQuietly(tmp);
            throw new UserError(e.getMessage(), e);
        }
        try {
            onBroker.accept(broker.bootstrapServers());
            KeyPair keys = ModelSigning.generate();
            Path keyDir = tmp.resolve("keys");
            ModelSigning.writeKeyPair(keys, keyDir);
            Path artifact = tmp.resolve("artifact");
            Files.createDirectories(artifact);
            for (String f : new String[] {ModelArtifact.MANIFEST_FILE, ModelArtifact.WEIGHTS_FILE}) {
                Files.copy(model.resolve(f), artifact.resolve(f));
            }
            ModelRecords.Publication pub = ModelRecords.fromArtifact(artifact, keys.getPrivate(),
                    ModelRecords.DEFAULT_CHUNK_BYTES);
            Publisher.publishModel(broker.clientConfig(), pub);
            Publisher.setControl(broker.clientConfig(), ControlMessage.active(pub.version(), keepRatio));
            Map<String, String> settings = new LinkedHashMap<>();
            settings.put("bootstrap.servers", broker.bootstrapServers());
            settings.put("model.public.key", keyDir.resolve(ModelSigning.PUBLIC_KEY_FILE).toString());
            settings.put("worker.id", "local-worker-1");
            settings.put("batch.max.size", String.valueOf(batchMaxSize));
            settings.put("http.port", "0");
            settings.putAll(workerSettings);
            WorkerConfig config = WorkerConfig.load(null, settings);
            PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
            registry.config().commonTags("worker", config.workerId());
            InferenceWorker worker = InferenceWorker.create(config, registry);
            HttpEndpoints http = HttpEndpoints.start(0, registry, worker);
            Thread loop = new Thread(worker, WORKER_THREAD);
            loop.start();
            return new LocalServing(broker, worker, http, registry, pub.version(), tmp, loop);
        } catch (IOException | RuntimeException e) {
            broker.close();
            FileTrees.deleteQuietly(tmp);
            throw e;
        }
    }

    /**
     * Starts the controller in this process against the local broker, with a generated admin token, the key the
     * model was signed with (so re-pruned versions are signed alike), 1 s metrics slices, and {@code settings}
     * (controller settings such as {@code policy.*} and {@code prune.*}) on top.
     */
    public Controller startController(Map<String, String> settings) throws InterruptedException {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("bootstrap.servers", broker.bootstrapServers());
        s.put("admin.host", "127.0.0.1");
        s.put("admin.port", "0");
        s.put("admin.token", generateToken());
        s.put("signing.private.key", tmp.resolve("keys").resolve(ModelSigning.PRIVATE_KEY_FILE).toString());
        s.put("signing.public.key", tmp.resolve("keys").resolve(ModelSigning.PUBLIC_KEY_FILE).toString());
        s.put("work.dir", tmp.resolve("controller").toString());
        s.put("metrics.slice.ms", "1000");
        s.put("metrics.join.window.ms", "30000");
        s.put("metrics.join.grace.ms", "5000");
        s.putAll(settings);
        ControllerConfig config = ControllerConfig.parse(s);
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        controller = Controller.start(config, Controller::streams, PruneRunner.DEFAULT, registry, Clock.systemUTC());
        adminToken = config.adminToken();
        return controller;
    }

    private static String generateToken() {
        byte[] b = new byte[24];
        new SecureRandom().nextBytes(b);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    /** Waits until the worker has its model loaded and warm, or fails after {@code timeout}. */
    public void awaitReady(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!worker.ready()) {
            if (System.nanoTime() > deadline) {
                throw new UserError("the worker did not get ready within " + timeout.toSeconds() + " s");
            }
            Thread.sleep(100);
        }
    }

    /** Every image of {@code images} as PNG, in order: what the benchmarks' load generators send. */
    public static List<byte[]> pngs(io.vitstream.data.LabeledImages images) {
        List<byte[]> out = new java.util.ArrayList<>(images.count());
        for (int i = 0; i < images.count(); i++) {
            out.add(images.png(i));
        }
        return out;
    }

    /** Stops the controller started by {@link #startController}, if any. */
    public void stopController() {
        if (controller != null) {
            controller.close();
            controller = null;
        }
    }

    /** Replaces what vit.control asks for (the worker applies it from its next batch). */
    public void setControl(ControlMessage control) {
        Publisher.setControl(broker.clientConfig(), control);
    }

    public void setKeepRatio(double ratio) throws InterruptedException {
        Publisher.setControl(broker.clientConfig(), ControlMessage.active(version, ratio));
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < deadline) {
            if (Math.abs(worker.status().keepRatio() - ratio) < 1e-9) {
                return;
            }
            Thread.sleep(50);
        }
        throw new UserError("the worker did not apply keep ratio " + ratio + " within 30 s");
    }

    public KafkaProducer<String, byte[]> producer() {
        return producer(null);
    }

    /**
     * As above with a client id (null: Kafka's own, unique per producer), which names the producer's I/O thread
     * ("kafka-producer-network-thread | ID").
     */
    public KafkaProducer<String, byte[]> producer(String clientId) {
        Map<String, Object> p = new LinkedHashMap<>(broker.clientConfig());
        if (clientId != null) {
            p.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
        }
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        return new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
    }

    /** A read_committed consumer of {@code topic} from the beginning, in a group of its own. */
    public KafkaConsumer<String, byte[]> consumer(String topic) {
        return consumer(topic, Map.of());
    }

    /** As above with further consumer settings (fetch sizes ...). */
    public KafkaConsumer<String, byte[]> consumer(String topic, Map<String, Object> settings) {
        Map<String, Object> c = new LinkedHashMap<>(broker.clientConfig());
        c.putAll(settings);
        c.put(ConsumerConfig.GROUP_ID_CONFIG, READER_GROUP + "-" + topic + "-" + UUID.randomUUID());
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(c, new StringDeserializer(),
                new ByteArrayDeserializer());
        consumer.subscribe(List.of(topic));
        return consumer;
    }

    /** Reads predictions until {@code expected} more arrived, or fails after {@code timeout}. */
    public static void collect(KafkaConsumer<String, byte[]> consumer, List<Prediction> into, int expected, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        int target = into.size() + expected;
        while (into.size() < target) {
            if (System.nanoTime() > deadline) {
                throw new UserError("only " + (expected - (target - into.size())) + " of " + expected
                        + " predictions arrived within " + timeout.toSeconds() + " s");
            }
            for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                into.add(Prediction.SERDE.deserialize(r.topic(), r.value()));
            }
        }
    }

    public static double quantile(double[] sorted, double q) {
        return sorted.length == 0 ? Double.NaN
                : sorted[(int) Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    }

    @Override
    public void close() throws InterruptedException {
        try {
            if (controller != null) {
                controller.close();
            }
            worker.close();
            loop.join(10_000);
        } finally {
            http.close();
            broker.close();
            FileTrees.deleteQuietly(tmp);
        }
    }
}
