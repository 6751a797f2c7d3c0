package io.vitstream.controller.state;

import io.vitstream.artifact.Manifest;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.ModelRecords;
import io.vitstream.kafka.Topics;
import io.vitstream.kafka.WorkerStatus;
import io.vitstream.util.Json;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows the compacted topics from the beginning, read_committed, without a consumer group (the controller needs all
 * of each): {@code vit.control} (what is served), {@code vit.worker-status} (what each worker has loaded),
 * {@code vit.models} (which versions exist: manifests only, the weight chunks are skipped) and the controller's own
 * {@link ControllerTopics#STATE}. One consumer on its own thread (KafkaConsumer javadoc: {@code wakeup()} to stop,
 * closed in {@code finally}); everything it learnt is readable from any thread.
 */
public final class ClusterFollower implements ClusterView, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ClusterFollower.class);
    private static final List<String> TOPICS = List.of(Topics.CONTROL, Topics.WORKER_STATUS, Topics.MODELS,
            ControllerTopics.STATE);

    private final KafkaConsumer<String, byte[]> consumer;
    private final Thread thread;
    private final CountDownLatch caughtUp = new CountDownLatch(1);
    private final Object changes = new Object();
    private volatile ControlMessage control;
    private final Map<String, SeenWorker> workers = new ConcurrentHashMap<>();
    private final Map<String, PublishedVersion> versions = new ConcurrentHashMap<>();
    private final Map<String, byte[]> state = new ConcurrentHashMap<>();
    private volatile RuntimeException failure;

    public ClusterFollower(Map<String, Object> clientSettings) {
        Map<String, Object> c = Topics.compactedReader(clientSettings, "vitstream-controller-follower");
        this.consumer = new KafkaConsumer<>(c, new StringDeserializer(), new ByteArrayDeserializer());
        this.thread = new Thread(this::run, "controller-follower");
        this.thread.setDaemon(true);
    }

    public void start() {
        thread.start();
    }

    private void run() {
        try {
            List<TopicPartition> tps = new ArrayList<>();
            for (String t : TOPICS) {
                var parts = consumer.partitionsFor(t, Duration.ofSeconds(30));
                if (parts == null || parts.isEmpty()) {
                    throw new IllegalStateException("topic " + t + " does not exist");
                }
                parts.forEach(p -> tps.add(new TopicPartition(t, p.partition())));
            }
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            Map<TopicPartition, Long> ends = consumer.endOffsets(tps);
            while (true) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    try {
                        apply(r);
                    } catch (RuntimeException e) {
                        // A malformed record on a shared topic is someone else's mistake: say so, keep following.
                        log.warn("ignoring a record on {} (key {}): {}", r.topic(), r.key(), e.getMessage());
                    }
                }
                if (caughtUp.getCount() > 0 && ends.entrySet().stream()
                        .allMatch(e -> consumer.position(e.getKey()) >= e.getValue())) {
                    caughtUp.countDown();
                }
                synchronized (changes) {
                    changes.notifyAll();
                }
            }
        } catch (WakeupException e) {
            // close(): stop following.
        } catch (RuntimeException e) {
            failure = e;
            log.error("the controller stopped following the cluster's topics: {}", e.toString());
        } finally {
            consumer.close();
            caughtUp.countDown();
        }
    }

    private void apply(ConsumerRecord<String, byte[]> r) {
        String key = r.key();
        byte[] v = r.value();
        switch (r.topic()) {
            case Topics.CONTROL -> {
                if (Topics.CONTROL_KEY.equals(key)) {
                    control = v == null ? null : ControlMessage.SERDE.parse(v);
                }
            }
            case Topics.WORKER_STATUS -> {
                if (v == null) {
                    workers.remove(key);
                } else {
                    workers.put(key, new SeenWorker(WorkerStatus.SERDE.parse(v), r.timestamp()));
                }
            }
            case Topics.MODELS -> {
                if (key != null && key.endsWith(ModelRecords.MANIFEST_SUFFIX)) {
                    String version = key.substring(0, key.length() - ModelRecords.MANIFEST_SUFFIX.length());
                    if (v == null) {
                        versions.remove(version);
                    } else {
                        versions.put(version, new PublishedVersion(parseManifest(v), r.headers()
                                .lastHeader(ModelRecords.HEADER_SIGNATURE) != null, r.timestamp()));
                    }
                }
            }
            case ControllerTopics.STATE -> {
                if (v == null) {
                    state.remove(key);
                } else {
                    state.put(key, v);
                }
            }
            default -> { }
        }
    }

    private static Manifest parseManifest(byte[] json) {
        try {
            return Json.MAPPER.readValue(json, Manifest.class);
        } catch (IOException e) {
            throw new IllegalArgumentException("not a manifest: " + e.getMessage().lines().findFirst().orElse(""), e);
        }
    }

    /** Waits until everything on the topics when following began has been read. */
    public void awaitCaughtUp(Duration timeout) throws InterruptedException {
        if (!caughtUp.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new IllegalStateException("could not read the cluster's compacted topics within "
                    + timeout.toSeconds() + " s");
        }
        if (failure != null) {
            throw new IllegalStateException("cannot follow the cluster's topics: " + failure.getMessage(), failure);
        }
    }

    @Override
    public ControlMessage awaitControl(Predicate<ControlMessage> condition, Duration timeout)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (changes) {
            while (true) {
                ControlMessage c = control;
                if (condition.test(c)) {
                    return c;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0 || failure != null || !thread.isAlive()) {
                    throw new IllegalStateException("vit.control did not show the expected record within "
                            + timeout.toSeconds() + " s (last seen: " + c + ")");
                }
                changes.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
            }
        }
    }

    @Override
    public ControlMessage control() {
        return control;
    }

    @Override
    public Map<String, SeenWorker> workers() {
        return Map.copyOf(workers);
    }

    @Override
    public Map<String, PublishedVersion> versions() {
        return Map.copyOf(versions);
    }

    /** The controller's own durable records ({@link ControllerTopics#STATE}), raw JSON by key. */
    public Map<String, byte[]> state() {
        return Map.copyOf(state);
    }

    @Override
    public boolean healthy() {
        return thread.isAlive() && failure == null;
    }

    @Override
    public void close() throws InterruptedException {
        if (thread.isAlive()) {
            consumer.wakeup();
        }
        thread.join(10_000);
    }
}
