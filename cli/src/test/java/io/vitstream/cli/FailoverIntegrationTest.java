package io.vitstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.data.FashionMnist;
import io.vitstream.data.LabeledImages;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.testing.TestData;
import io.vitstream.testkit.TestBroker;
import io.vitstream.testkit.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two workers in their own JVMs (`vitstream worker`), one killed with SIGKILL mid-stream: every input is predicted
 * exactly once, and the last predictions become visible to a read_committed reader within a generous bound. The
 * measured fail-over time is printed; the budget itself is a benchmark figure, not asserted tightly here.
 */
@Tag("integration")
class FailoverIntegrationTest {
    private static final int IMAGES = 1200;
    private static final int RATE = 200;
    private static final int WARM_UP = 50;

    @TempDir
    Path tmp;

    @Test
    void aWorkerKilledWithSigkillLosesAndDuplicatesNothing() throws Exception {
        failover(false);
    }

    @Test
    void aKilledWorkerRestartedUnderItsIdFencesItsPredecessorAtOnce() throws Exception {
        failover(true);
    }

    private void failover(boolean restart) throws Exception {
        Path model = TestModels.tiny(tmp, "v1", null, 5);
        LabeledImages test = FashionMnist.load(TestData.fashionMnist(), FashionMnist.Split.TEST);
        try (TestBroker broker = TestBroker.start(4)) {
            List<Process> workers = new ArrayList<>(List.of(worker(broker, model, "fa"), worker(broker, model, "fb")));
            try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(new HashMap<>(broker.clientConfig()),
                    new StringSerializer(), new ByteArraySerializer())) {
                // Both workers serving (each has answered) before the measured stream starts: warm-up images in
                // rounds until both have predicted some (the second one joins the group a little later).
                Map<String, Integer> warm = new HashMap<>();
                List<String> served = new ArrayList<>();
                int warmUp = 0;
                for (int round = 0; round < 30 && !served.containsAll(List.of("fa", "fb")); round++) {
                    for (int i = 0; i < WARM_UP; i++, warmUp++) {
                        producer.send(new ProducerRecord<>(Topics.IMAGES, "warm-" + warmUp, test.png(warmUp)));
                    }
                    producer.flush();
                    readUntil(broker, warm, served, warmUp, Duration.ofSeconds(60));
                }
                assertThat(served).as("both workers serve").contains("fa", "fb");

                long killedAt = 0;
                long start = System.nanoTime();
                for (int i = 0; i < IMAGES; i++) {
                    long wait = start + (long) (i * 1e9 / RATE) - System.nanoTime();
                    if (wait > 0) {
                        TimeUnit.NANOSECONDS.sleep(wait);
                    }
                    producer.send(new ProducerRecord<>(Topics.IMAGES, "img-" + i, test.png(i % test.count())));
                    if (i == IMAGES / 2) {
                        workers.get(0).destroyForcibly(); // SIGKILL: an open transaction, no leave-group
                        killedAt = System.nanoTime();
                        if (restart) {
                            workers.add(worker(broker, model, "fa"));
                        }
                    }
                }
                producer.flush();
                long lastSent = System.nanoTime();
                Map<String, Integer> seen = new HashMap<>();
                long allVisible = readUntil(broker, seen, new ArrayList<>(), warmUp + IMAGES, Duration.ofSeconds(90));
                System.out.printf("fail-over (%s): all %d predictions visible %.1f s after the last input, %.1f s"
                        + " after the SIGKILL (%.1f s of input after it, %d images/s)%n",
                        restart ? "killed worker restarted under its id" : "killed worker not restarted",
                        seen.size(), (allVisible - lastSent) / 1e9, (allVisible - killedAt) / 1e9,
                        (lastSent - killedAt) / 1e9, RATE);
                assertThat(seen).hasSize(warmUp + IMAGES);
                assertThat(seen.values()).as("exactly one prediction per input").containsOnly(1);
                assertThat((allVisible - lastSent) / 1e9).as("seconds from the last input to all predictions")
                        .isLessThan(60);
            } finally {
                for (Process w : workers) {
                    w.destroyForcibly();
                    w.waitFor(10, TimeUnit.SECONDS);
                }
            }
        }
    }

    private Process worker(TestBroker broker, Path model, String id) throws Exception {
        Path log = Files.createTempFile(tmp, id + "-", ".log");
        return new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx1g", "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "worker", "--bootstrap", broker.bootstrapServers(), "--model", model.toString(),
                "--worker-id", id, "--http-port", "-1", "--inference-lanes", "1")
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /**
     * Reads predictions read_committed from the start until {@code expected} inputs have one (then 3 s more, for
     * duplicates); counts per id in {@code seen}, the workers that answered in {@code workers}. Returns when the last
     * missing prediction arrived.
     */
    static long readUntil(TestBroker broker, Map<String, Integer> seen, List<String> workers, int expected,
            Duration timeout) {
        Map<String, Object> c = new HashMap<>(broker.clientConfig());
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        long complete = 0;
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(c, new StringDeserializer(),
                new ByteArrayDeserializer())) {
            List<TopicPartition> tps = new ArrayList<>();
            consumer.partitionsFor(Topics.PREDICTIONS).forEach(i -> tps.add(new TopicPartition(i.topic(),
                    i.partition())));
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < deadline) {
                consumer.poll(Duration.ofMillis(100)).forEach(r -> {
                    Prediction p = Prediction.SERDE.parse(r.value());
                    seen.merge(p.id(), 1, Integer::sum);
                    if (!workers.contains(p.worker())) {
                        workers.add(p.worker());
                    }
                });
                if (complete == 0 && seen.size() >= expected) {
                    complete = System.nanoTime();
                    deadline = Math.min(deadline, complete + Duration.ofSeconds(3).toNanos());
                }
            }
        }
        return complete == 0 ? System.nanoTime() : complete;
    }
}
