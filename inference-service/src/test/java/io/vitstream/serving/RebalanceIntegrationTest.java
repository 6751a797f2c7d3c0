package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.serving.TestKafka.Image;
import io.vitstream.serving.TestKafka.RunningWorker;
import io.vitstream.signing.ModelSigning;
import io.vitstream.testkit.TestBroker;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A second worker joins while the first holds records it has not committed: in a batch it is still collecting, or
 * in batches whose forward passes run in its lanes. The rebalance inside the first worker's poll revokes partitions
 * whose records sit there. They must be dropped, not predicted and committed (the transactional commit would still
 * pass, and the new owner starts from the last committed offset): every input gets exactly one committed prediction.
 */
@Tag("integration")
class RebalanceIntegrationTest {
    @TempDir
    Path tmp;

    @Test
    void aWorkerJoiningMidBatchYieldsExactlyOnePredictionPerInput() throws Exception {
        // Large batches that wait long to fill: a rebalance almost surely lands while a batch is being collected.
        joinWhileBusy(Map.of("batch.max.size", "256", "batch.max.wait.ms", "1500"), 0);
    }

    @Test
    void aWorkerJoiningWhileBatchesAreInTheLanesYieldsExactlyOnePredictionPerInput() throws Exception {
        // Small batches and slow forward passes in two lanes: inputs arrive faster than the lanes finish, so batches
        // are always in flight (submitted, not committed) when the rebalance lands. Fails when in-flight records of
        // revoked partitions are committed anyway (checked by removing the drop).
        joinWhileBusy(Map.of("batch.max.size", "8", "batch.max.wait.ms", "5", "inference.lanes", "2"), 400);
    }

    private void joinWhileBusy(Map<String, String> slow, long forwardDelayMs) throws Exception {
        KeyPair keys = ModelSigning.generate();
        Path publicKey = TestKafka.writeKeys(keys, tmp.resolve("keys"));
        Path v1 = TestKafka.tinyModel(tmp, "v1", 1);
        int total = 400;
        try (TestBroker broker = TestBroker.start(4)) {
            TestKafka.publish(broker, v1, keys);
            TestKafka.activate(broker, "v1", 1.0);
            try (RunningWorker a = RunningWorker.start(TestKafka.workerConfig(broker, "a", publicKey, slow))) {
                TestKafka.await("a ready", () -> a.worker().ready(), Duration.ofSeconds(30));
                a.worker().delayForwards(forwardDelayMs);
                Thread producer = new Thread(() -> {
                    for (int step = 0; step < total / 10; step++) {
                        List<Image> ten = new java.util.ArrayList<>();
                        for (int i = step * 10; i < step * 10 + 10; i++) {
                            ten.add(new Image("r-" + i, TestImages.png(i), Map.of()));
                        }
                        TestKafka.produce(broker, ten);
                        try {
                            Thread.sleep(100);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                }, "test-producer");
                producer.start();
                // Join while a has been collecting for a while (inputs flow in for about 4 s).
                Thread.sleep(700);
                try (RunningWorker b = RunningWorker.start(TestKafka.workerConfig(broker, "b", publicKey, slow))) {
                    producer.join(60_000);
                    List<ConsumerRecord<String, byte[]>> committed = TestKafka.readUntil(broker, Topics.PREDICTIONS,
                            true, l -> l.stream().map(ConsumerRecord::key).distinct().count() >= total,
                            Duration.ofSeconds(90));
                    Map<String, Integer> count = new HashMap<>();
                    Set<String> workers = new HashSet<>();
                    for (ConsumerRecord<String, byte[]> r : committed) {
                        count.merge(r.key(), 1, Integer::sum);
                        workers.add(Prediction.SERDE.deserializer().deserialize(Topics.PREDICTIONS, r.value()).worker());
                    }
                    assertThat(count).hasSize(total);
                    assertThat(count.values()).as("predictions per input").containsOnly(1);
                    assertThat(workers).as("both workers served after the rebalance").containsExactlyInAnyOrder("a", "b");
                }
            }
        }
    }
}
