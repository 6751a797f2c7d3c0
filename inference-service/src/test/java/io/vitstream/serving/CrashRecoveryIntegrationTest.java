package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.kafka.Topics;
import io.vitstream.serving.TestKafka.Image;
import io.vitstream.serving.TestKafka.RunningWorker;
import io.vitstream.signing.ModelSigning;
import io.vitstream.testing.TestBroker;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A worker dies between producing its predictions and committing them (open transaction, nothing aborted) while a
 * second worker shares the group, then restarts under the same id: read_committed readers still see exactly one
 * prediction per input.
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
                TestKafka.produce(broker, images("first", 40));
                TestKafka.readUntil(broker, Topics.PREDICTIONS, true, l -> l.size() >= 8, Duration.ofSeconds(30));

                // Worker a dies at its next commit, with predictions sent inside the open transaction.
                a.worker().crashAtNextCommit();
                TestKafka.produce(broker, images("second", 40));
                a.thread().join(30_000);
                assertThat(a.thread().isAlive()).as("worker a crashed").isFalse();

                // Restarted under the same id: its new producer fences the old one and aborts its transaction.
                try (RunningWorker a2 = RunningWorker.start(TestKafka.workerConfig(broker, "a", publicKey, small))) {
                    TestKafka.produce(broker, images("third", 20));
                    List<ConsumerRecord<String, byte[]>> committed = TestKafka.readUntil(broker, Topics.PREDICTIONS,
                            true, l -> l.size() >= 100, Duration.ofSeconds(50));
                    Map<String, Integer> count = new HashMap<>();
                    committed.forEach(r -> count.merge(r.key(), 1, Integer::sum));
                    assertThat(count).hasSize(100);
                    assertThat(count.values()).containsOnly(1);
                    assertThat(committed).hasSize(100);

                    // The crash really left output behind: uncommitted readers see the aborted predictions too.
                    List<ConsumerRecord<String, byte[]>> everything = TestKafka.readUntil(broker, Topics.PREDICTIONS,
                            false, l -> l.size() > 100, Duration.ofSeconds(10));
                    assertThat(everything.size()).isGreaterThan(100);
                }
            }
        }
    }
}
