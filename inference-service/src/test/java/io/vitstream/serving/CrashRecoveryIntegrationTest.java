package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.serving.TestKafka.Image;
import io.vitstream.serving.TestKafka.RunningWorker;
import io.vitstream.signing.ModelSigning;
import io.vitstream.testkit.TestBroker;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A worker dies between producing its predictions and committing them (open transaction, nothing aborted) while a
 * second worker shares the group, then restarts under the same id: read_committed readers still see exactly one
 * prediction per input. And a worker whose transactional id is fenced under it (what the transaction coordinator does to
 * a transaction that outlived its timeout while a broker failed over) carries on with a new producer; one fenced again
 * and again (another live process under its id) stops.
 */
@Tag("integration")
class CrashRecoveryIntegrationTest {
    @TempDir
    Path tmp;

    private static List<Image> images(String prefix, int n) {
        List<Image> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new Image(prefix + "-" + i, TestImages.png(i), Map.of()));
        }
        return out;
    }

    @Test
    void aWorkerKilledMidTransactionLosesNothingAndDuplicatesNothing() throws Exception {
        KeyPair keys = ModelSigning.generate();
        Path publicKey = TestKafka.writeKeys(keys, tmp.resolve("keys"));
        Path v1 = TestKafka.tinyModel(tmp, "v1", 1);
        Map<String, String> small = Map.of("batch.max.size", "4", "batch.max.wait.ms", "5");
        try (TestBroker broker = TestBroker.start(4)) {
            TestKafka.publish(broker, v1, keys);
            TestKafka.activate(broker, "v1", 1.0);
            RunningWorker a = RunningWorker.start(TestKafka.workerConfig(broker, "a", publicKey, small));
            try (RunningWorker b = RunningWorker.start(TestKafka.workerConfig(broker, "b", publicKey, small))) {
                TestKafka.await("both ready", () -> a.worker().ready() && b.worker().ready(), Duration.ofSeconds(30));
                // Until both serve (a rebalance can leave one without partitions for a while).
                int first = 0;
                java.util.Set<String> served = new java.util.HashSet<>();
                while (!served.containsAll(List.of("a", "b"))) {
                    assertThat(first).as("both workers serve within 10 rounds").isLessThan(80);
                    TestKafka.produce(broker, images("first-" + first, 8));
                    first += 8;
                    int expected = first;
                    TestKafka.readUntil(broker, Topics.PREDICTIONS, true, l -> l.size() >= expected,
                            Duration.ofSeconds(30)).forEach(r -> served.add(Prediction.SERDE.deserialize(null,
                                    r.value()).worker()));
                }

                // Worker a dies at its next commit, with predictions sent inside the open transaction.
                a.worker().crashAtNextCommit();
                TestKafka.produce(broker, images("second", 40));
                a.thread().join(30_000);
                assertThat(a.thread().isAlive()).as("worker a crashed").isFalse();

                // Restarted under the same id: its new producer fences the old one and aborts its transaction.
                try (RunningWorker a2 = RunningWorker.start(TestKafka.workerConfig(broker, "a", publicKey, small))) {
                    TestKafka.produce(broker, images("third", 20));
                    int total = first + 40 + 20;
                    List<ConsumerRecord<String, byte[]>> committed = TestKafka.readUntil(broker, Topics.PREDICTIONS,
                            true, l -> l.size() >= total, Duration.ofSeconds(50));
                    Map<String, Integer> count = new HashMap<>();
                    committed.forEach(r -> count.merge(r.key(), 1, Integer::sum));
                    assertThat(count).hasSize(total);
                    assertThat(count.values()).containsOnly(1);
                    assertThat(committed).hasSize(total);

                    // The crash really left output behind: uncommitted readers see the aborted predictions too.
                    List<ConsumerRecord<String, byte[]>> everything = TestKafka.readUntil(broker, Topics.PREDICTIONS,
                            false, l -> l.size() > total, Duration.ofSeconds(10));
                    assertThat(everything.size()).isGreaterThan(total);
                }
            }
        }
    }

    /** Fences {@code transactionalId} as a new incarnation would: its initTransactions() bumps the epoch. */
    private static void fence(TestBroker broker, String transactionalId) {
        Map<String, Object> p = new HashMap<>(broker.clientConfig());
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        try (KafkaProducer<String, byte[]> fencer = new KafkaProducer<>(p, new StringSerializer(),
                new ByteArraySerializer())) {
            fencer.initTransactions();
        }
    }

    @Test
    void aWorkerFencedUnderItsOwnIdReplacesItsProducerAndStopsOnlyWhenFencedAgainAndAgain() throws Exception {
        KeyPair keys = ModelSigning.generate();
        Path publicKey = TestKafka.writeKeys(keys, tmp.resolve("keys"));
        Path v1 = TestKafka.tinyModel(tmp, "v1", 1);
        Map<String, String> small = Map.of("batch.max.size", "4", "batch.max.wait.ms", "5");
        try (TestBroker broker = TestBroker.start(2)) {
            TestKafka.publish(broker, v1, keys);
            TestKafka.activate(broker, "v1", 1.0);
            SimpleMeterRegistry meters = new SimpleMeterRegistry();
            try (RunningWorker a = RunningWorker.start(TestKafka.workerConfig(broker, "f", publicKey, small), meters)) {
                TestKafka.await("ready", () -> a.worker().ready(), Duration.ofSeconds(30));
                TestKafka.produce(broker, images("before", 20));
                TestKafka.readUntil(broker, Topics.PREDICTIONS, true, l -> l.size() >= 20, Duration.ofSeconds(30));

                fence(broker, "vitstream-worker-f");
                TestKafka.produce(broker, images("after", 20));
                List<ConsumerRecord<String, byte[]>> committed = TestKafka.readUntil(broker, Topics.PREDICTIONS, true,
                        l -> l.size() >= 40, Duration.ofSeconds(40));
                Map<String, Integer> count = new HashMap<>();
                committed.forEach(r -> count.merge(r.key(), 1, Integer::sum));
                assertThat(count).hasSize(40);
                assertThat(count.values()).as("exactly one prediction per input").containsOnly(1);
                assertThat(meters.counter("inference.producer.replaced").count()).isEqualTo(1.0);
                assertThat(a.thread().isAlive()).as("the fenced worker still serves").isTrue();
                assertThat(a.worker().status().health()).isEqualTo("serving");

                // Fenced at every commit: another process under the same id; the worker gives up and stops.
                for (int round = 0; round < TransactionalCommitter.MAX_FENCES + 2 && a.thread().isAlive(); round++) {
                    fence(broker, "vitstream-worker-f");
                    TestKafka.produce(broker, images("round-" + round, 2));
                    a.thread().join(5_000);
                }
                assertThat(a.thread().isAlive()).as("stopped after being fenced again and again").isFalse();
                assertThat(meters.counter("inference.producer.replaced").count()).as("replaced until the last fence")
                        .isGreaterThanOrEqualTo(TransactionalCommitter.MAX_FENCES - 1.0);
            }
        }
    }
}
