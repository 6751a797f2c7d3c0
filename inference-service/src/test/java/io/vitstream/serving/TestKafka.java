package io.vitstream.serving;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vitstream.model.VitConfig;
import io.vitstream.signing.ModelSigning;
import io.vitstream.testkit.TestBroker;
import io.vitstream.testkit.TestModels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.awaitility.Awaitility;

/** Test plumbing around a real broker: tiny real models, signed publication, workers in threads, topic readers. */
final class TestKafka {
    static final VitConfig TINY = TestModels.TINY;
    static final List<String> CLASSES = TestModels.CLASSES;

    private TestKafka() {}

    /** A real tiny model artifact with random weights from {@code seed}. */
    static Path tinyModel(Path root, String version, int seed) {
        return TestModels.tiny(root, version, null, seed);
    }

    static Path writeKeys(KeyPair pair, Path dir) throws Exception {
        ModelSigning.writeKeyPair(pair, dir);
        return dir.resolve(ModelSigning.PUBLIC_KEY_FILE);
    }

    static void publish(TestBroker broker, Path modelDir, KeyPair keys) {
        TestModels.publish(broker, modelDir, keys); // small chunks: several per model
    }

    static void activate(TestBroker broker, String version, double keepRatio) {
        TestModels.activate(broker, version, keepRatio);
    }

    static WorkerConfig workerConfig(TestBroker broker, String workerId, Path publicKey, Map<String, String> extra) {
        Map<String, String> s = TestModels.workerSettings(broker, workerId, publicKey);
        s.putAll(extra);
        return WorkerConfig.parse(s);
    }

    /** A worker running on its own thread. */
    record RunningWorker(InferenceWorker worker, Thread thread) implements AutoCloseable {
        static RunningWorker start(WorkerConfig config) {
            return start(config, new SimpleMeterRegistry());
        }

        static RunningWorker start(WorkerConfig config, io.micrometer.core.instrument.MeterRegistry registry) {
            InferenceWorker w = InferenceWorker.create(config, registry);
            Thread t = new Thread(w, "test-worker-" + config.workerId());
            t.setDaemon(true);
            t.start();
            return new RunningWorker(w, t);
        }

        @Override
        public void close() throws Exception {
            if (thread.isAlive()) {
                worker.close();
            }
            thread.join(30_000);
        }
    }

    record Image(String key, byte[] bytes, Map<String, String> headers) {}

    static void produce(TestBroker broker, List<Image> images) {
        Map<String, Object> p = new HashMap<>(broker.clientConfig());
        p.put("max.request.size", 16 * 1024 * 1024);
        List<java.util.concurrent.Future<?>> futures = new ArrayList<>();
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(),
                new ByteArraySerializer())) {
            for (Image img : images) {
                RecordHeaders h = new RecordHeaders();
                img.headers().forEach((k, v) -> h.add(k, v.getBytes(StandardCharsets.UTF_8)));
                futures.add(producer.send(new ProducerRecord<>(io.vitstream.kafka.Topics.IMAGES, null, img.key(),
                        img.bytes(), h)));
            }
            producer.flush();
            for (var f : futures) {
                f.get(); // a record the broker refused fails the test here, not later as a missing prediction
            }
        } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException("produce failed: " + e.getMessage(), e);
        }
    }

    /**
     * Everything on {@code topic} from the beginning, read until {@code done} holds for what was read (then for a
     * short extra while, to see records that should not be there) or the timeout ends.
     */
    static List<ConsumerRecord<String, byte[]>> readUntil(TestBroker broker, String topic, boolean committedOnly,
            Predicate<List<ConsumerRecord<String, byte[]>>> done, Duration timeout) {
        Map<String, Object> p = new HashMap<>(broker.clientConfig());
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, committedOnly ? "read_committed" : "read_uncommitted");
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 16 * 1024 * 1024);
        List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(),
                new ByteArrayDeserializer())) {
            List<TopicPartition> tps = c.partitionsFor(topic).stream()
                    .map(i -> new TopicPartition(topic, i.partition())).toList();
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = System.currentTimeMillis() + timeout.toMillis();
            long settleUntil = Long.MAX_VALUE;
            while (System.currentTimeMillis() < Math.min(deadline, settleUntil)) {
                c.poll(Duration.ofMillis(100)).forEach(out::add);
                if (settleUntil == Long.MAX_VALUE && done.test(out)) {
                    settleUntil = System.currentTimeMillis() + 500;
                }
            }
        }
        return out;
    }

    static String header(ConsumerRecord<?, ?> r, String name) {
        var h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    /** Polls {@code condition} (Awaitility) until it holds; fails naming {@code what} after {@code timeout}. */
    static void await(String what, java.util.function.BooleanSupplier condition, Duration timeout) {
        Awaitility.await(what).atMost(timeout).pollInterval(Duration.ofMillis(50)).until(condition::getAsBoolean);
    }
}
