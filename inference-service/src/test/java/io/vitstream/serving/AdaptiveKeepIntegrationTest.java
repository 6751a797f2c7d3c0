package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Publisher;
import io.vitstream.kafka.Topics;
import io.vitstream.kafka.WorkerStatus;
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
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fast loop on a real broker: with keep-ratio bounds on vit.control and a model whose cost scales with the tokens
 * kept (a slow-lane hook, 2 ms per image at keep 1.0), a trickle is served at the ceiling, a burst is served at a
 * lower ratio from its first batch, and once the backlog is served the ratio returns to the ceiling; every input is
 * predicted exactly once throughout.
 */
@Tag("integration")
class AdaptiveKeepIntegrationTest {
    private static final int BURST = 4000;

    @TempDir
    Path tmp;

    @Test
    void aBurstLowersTheKeepRatioWithinOneBatchAndTheCeilingReturnsOnceItIsServed() throws Exception {
        KeyPair keys = ModelSigning.generate();
        Path publicKey = TestKafka.writeKeys(keys, tmp.resolve("keys"));
        Path v1 = TestKafka.tinyModel(tmp, "v1", 1);
        try (TestBroker broker = TestBroker.start(1)) {
            TestKafka.publish(broker, v1, keys);
            // SLO 3 s (generous, so that a loaded machine's trickle still fits at 1.0): at 2 ms per image the worker
            // serves 500 images/s at keep 1.0 and 1,000/s at the floor 0.5.
            Publisher.setControl(broker.clientConfig(), ControlMessage.active("v1", 1.0).withBounds(0.5, 1.0, 3000));
            WorkerConfig config = TestKafka.workerConfig(broker, "adaptive-1", publicKey,
                    Map.of("batch.max.size", "16", "inference.lanes", "1"));
            try (RunningWorker w = RunningWorker.start(config)) {
                w.worker().slowForwards(2.0);
                TestKafka.await("v1 serving", w.worker()::ready, Duration.ofSeconds(30));

                trickle(broker, "before", 40);
                // 4,000 at once, committed in one transaction so that the worker's first poll sees all of them:
                // draining them takes 8 s at 1.0 and 4 s at the floor, both over the 2.4 s budget.
                List<ProducerRecord<String, byte[]>> burst = new ArrayList<>();
                for (int i = 0; i < BURST; i++) {
                    burst.add(new ProducerRecord<>(Topics.IMAGES, "burst-" + i, TestImages.png(i)));
                }
                Publisher.sendAtomically(broker.clientConfig(), burst);
                TestKafka.await("the burst served", () -> w.worker().metrics().imagesPredicted() >= 40 + BURST,
                        Duration.ofSeconds(90));
                trickle(broker, "after", 40);

                Map<String, Prediction> byId = new HashMap<>();
                for (ConsumerRecord<String, byte[]> r : TestKafka.readUntil(broker, Topics.PREDICTIONS, true,
                        l -> l.size() >= 80 + BURST, Duration.ofSeconds(60))) {
                    assertThat(byId.put(r.key(), Prediction.SERDE.deserialize(Topics.PREDICTIONS, r.value())))
                            .as("second prediction for %s", r.key()).isNull();
                }
                assertThat(byId).hasSize(80 + BURST);
                for (int i = 0; i < 40; i++) {
                    Prediction p = byId.get("before-" + i);
                    assertThat(p.keepRatio()).as("before-%d (%s)", i, p.keepReason()).isEqualTo(1.0);
                }
                // The burst's oldest record is in its first batch: already below the ceiling, and why.
                Prediction first = byId.get("burst-0");
                assertThat(first.keepRatio()).isLessThan(1.0);
                assertThat(first.keepReason()).isIn("floor", "slo");
                assertThat(byId.values()).extracting(Prediction::keepRatio).allMatch(r -> r >= 0.5 && r <= 1.0);
                // Served again: the last of the trickle is back at the ceiling.
                Prediction last = byId.get("after-39");
                assertThat(last.keepRatio()).isEqualTo(1.0);
                assertThat(last.keepReason()).isEqualTo("ceiling");

                WorkerStatus.Load load = w.worker().status().load();
                assertThat(load).isNotNull();
                assertThat(load.keepFloor()).isEqualTo(0.5);
                assertThat(load.keepCeiling()).isEqualTo(1.0);
                // Capacity as measured: full batches of 16 at the floor, 16 ms of the hook's sleep each, at most
                // 1,000 images/s; every ratio of the grid is reported.
                assertThat(load.capacityPerS()).containsKeys("0.50", "0.60", "0.70", "0.80", "0.90", "1.00");
                // (times the measured efficiency, at least 0.2: the loop's own work when backlogged).
                assertThat(load.capacityPerS().get("0.50")).isBetween(150.0, 1000.0);
                assertThat(load.backlog()).isZero(); // everything served
            }
        }
    }

    /** {@code n} images one at a time, 25 ms apart (40 images/s, a tenth of the worker's capacity). */
    private static void trickle(TestBroker broker, String prefix, int n) throws InterruptedException {
        for (int i = 0; i < n; i++) {
            TestKafka.produce(broker, List.of(new Image(prefix + "-" + i, TestImages.png(i), Map.of())));
            Thread.sleep(25);
        }
    }
}
