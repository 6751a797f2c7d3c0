package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.kafka.ModelRecords;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Publisher;
import io.vitstream.kafka.Topics;
import io.vitstream.kafka.WorkerStatus;
import io.vitstream.serving.TestKafka.Image;
import io.vitstream.serving.TestKafka.RunningWorker;
import io.vitstream.signing.ModelSigning;
import io.vitstream.testkit.TestBroker;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Model versions and keep ratio follow vit.control: a signed version swaps in under load without losing or
 * repeating an input; tampered, wrongly signed and unsigned versions are refused while the old one keeps serving.
 */
@Tag("integration")
class HotSwapIntegrationTest {
    @TempDir
    Path tmp;

    private static List<Image> images(String prefix, int n) {
        List<Image> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new Image(prefix + "-" + i, TestImages.png(i), Map.of()));
        }
        return out;
    }

    private static Map<String, Prediction> predictions(TestBroker broker, int atLeast) {
        List<ConsumerRecord<String, byte[]>> recs = TestKafka.readUntil(broker, Topics.PREDICTIONS, true,
                l -> l.size() >= atLeast, Duration.ofSeconds(40));
        Map<String, Prediction> byId = new java.util.HashMap<>();
        for (ConsumerRecord<String, byte[]> r : recs) {
            assertThat(byId.put(r.key(), Prediction.SERDE.deserialize(Topics.PREDICTIONS, r.value())))
                    .as("second prediction for %s", r.key()).isNull();
        }
        return byId;
    }

    @Test
    void swapsSignedVersionsAndRefusesBadOnesWhileServing() throws Exception {
        KeyPair keys = ModelSigning.generate();
        KeyPair otherKeys = ModelSigning.generate();
        Path publicKey = TestKafka.writeKeys(keys, tmp.resolve("keys"));
        Path v1 = TestKafka.tinyModel(tmp, "v1", 1);
        SimpleMeterRegistry registry = new SimpleMeterRegistry();

        try (TestBroker broker = TestBroker.start(2)) {
            TestKafka.publish(broker, v1, keys);
            TestKafka.activate(broker, "v1", 1.0);
            try (RunningWorker w = RunningWorker.start(TestKafka.workerConfig(broker, "w1", publicKey, Map.of()),
                    registry)) {
                TestKafka.await("v1 serving", w.worker()::ready, Duration.ofSeconds(30));
                int produced = 0;
                TestKafka.produce(broker, images("a", 10));
                produced += 10;
                assertThat(predictions(broker, produced).values()).extracting(Prediction::modelVersion)
                        .containsOnly("v1");

                // Three bad versions, each refused with its reason while v1 keeps serving.
                Path tampered = TestKafka.tinyModel(tmp, "v2-tampered", 2);
                List<ProducerRecord<String, byte[]>> recs = new ArrayList<>(
                        ModelRecords.fromArtifact(tampered, keys.getPrivate(), 4096).records());
                ProducerRecord<String, byte[]> chunk = recs.get(1);
                byte[] flipped = chunk.value().clone();
                flipped[flipped.length / 2] ^= 0x01;
                recs.set(1, new ProducerRecord<>(chunk.topic(), chunk.key(), flipped));
                Publisher.sendAtomically(broker.clientConfig(), recs);

                Path wrong = TestKafka.tinyModel(tmp, "v2-wrong-key", 3);
                Publisher.publishModel(broker.clientConfig(), ModelRecords.fromArtifact(wrong, otherKeys.getPrivate(),
                        4096));

                Path unsigned = TestKafka.tinyModel(tmp, "v2-unsigned", 4);
                var m = ModelArtifact.readManifest(unsigned);
                Publisher.sendAtomically(broker.clientConfig(), ModelRecords.records("v2-unsigned",
                        Files.readAllBytes(unsigned.resolve("manifest.json")), null,
                        Files.readAllBytes(unsigned.resolve(m.weights().file())), 4096));

                Map<String, String> expectedReasons = Map.of("v2-tampered", "checksum", "v2-wrong-key",
                        "bad_signature", "v2-unsigned", "unsigned");
                for (var e : expectedReasons.entrySet()) {
                    TestKafka.activate(broker, e.getKey(), 1.0);
                    TestKafka.await("refusal of " + e.getKey(), () -> w.worker().status().refusedVersions()
                            .contains(e.getKey() + ": " + e.getValue()), Duration.ofSeconds(30));
                    WorkerStatus s = w.worker().status();
                    assertThat(s.health()).isEqualTo("degraded");
                    assertThat(s.modelVersion()).isEqualTo("v1");
                    assertThat(s.lastError()).contains(e.getKey());
                    assertThat(registry.counter("model.swap.failures", "reason", e.getValue()).count()).isEqualTo(1);
                    TestKafka.produce(broker, images("bad-" + e.getKey(), 4));
                    produced += 4;
                }
                Map<String, Prediction> afterRefusals = predictions(broker, produced);
                assertThat(afterRefusals).hasSize(produced);
                assertThat(afterRefusals.values()).extracting(Prediction::modelVersion).containsOnly("v1");

                // Keep ratio follows control from the next batch.
                TestKafka.activate(broker, "v1", 0.5);
                TestKafka.await("keep ratio 0.5", () -> w.worker().status().keepRatio() == 0.5,
                        Duration.ofSeconds(20));
                TestKafka.produce(broker, images("half", 6));
                produced += 6;
                Map<String, Prediction> half = predictions(broker, produced);
                long dense = io.vitstream.model.FlopCounter.perImage(TestKafka.TINY);
                for (int i = 0; i < 6; i++) {
                    Prediction p = half.get("half-" + i);
                    assertThat(p.keepRatio()).isEqualTo(0.5);
                    // A dense model without predictors ranks tokens by CLS attention: half the 16 patches after
                    // the first block (CLS + 8), and fewer FLOPs than dense.
                    assertThat(p.tokensKept()).containsExactly(17, 9);
                    assertThat(p.flops()).isLessThan(dense);
                }
                assertThat(afterRefusals.values()).extracting(Prediction::tokensKept).containsOnly(List.of(17, 17));

                // A good v2 swaps in while records flow: none lost, none twice, each stamped by its model.
                Path v2 = TestKafka.tinyModel(tmp, "v2", 5);
                TestKafka.publish(broker, v2, keys);
                AtomicBoolean flowing = new AtomicBoolean(true);
                AtomicInteger sent = new AtomicInteger();
                Thread load = new Thread(() -> {
                    int i = 0;
                    while (flowing.get()) {
                        TestKafka.produce(broker, images("load-" + i, 1).stream()
                                .map(img -> new Image("load-" + sent.get(), img.bytes(), img.headers())).toList());
                        sent.incrementAndGet();
                        i++;
                    }
                });
                load.start();
                Thread.sleep(500);
                TestKafka.activate(broker, "v2", 0.5);
                TestKafka.await("v2 serving", () -> "v2".equals(w.worker().status().modelVersion()),
                        Duration.ofSeconds(30));
                Thread.sleep(500);
                flowing.set(false);
                load.join();
                TestKafka.produce(broker, images("after", 5));
                produced += sent.get() + 5;
                Map<String, Prediction> all = predictions(broker, produced);
                assertThat(all).hasSize(produced);
                Set<String> versions = new HashSet<>();
                for (int i = 0; i < sent.get(); i++) {
                    versions.add(all.get("load-" + i).modelVersion());
                }
                assertThat(versions).isSubsetOf("v1", "v2").contains("v2");
                for (int i = 0; i < 5; i++) {
                    assertThat(all.get("after-" + i).modelVersion()).isEqualTo("v2");
                }
                assertThat(registry.counter("model.swaps", "version", "v2").count()).isEqualTo(1);
                TestKafka.await("heartbeat naming v2", () -> TestKafka.readUntil(broker, Topics.WORKER_STATUS, false,
                        l -> false, Duration.ofMillis(800)).stream()
                        .map(r -> WorkerStatus.SERDE.deserialize(Topics.WORKER_STATUS, r.value()))
                        .anyMatch(s -> "v2".equals(s.modelVersion()) && s.refusedVersions().size() == 3),
                        Duration.ofSeconds(20));

                // A canary takes its share of batches next to the active version; both are stamped correctly.
                Path v3 = TestKafka.tinyModel(tmp, "v3", 6);
                TestKafka.publish(broker, v3, keys);
                Publisher.setControl(broker.clientConfig(),
                        io.vitstream.kafka.ControlMessage.active("v2", 0.5).withCanary("v3", 0.5));
                TestKafka.await("canary v3 loaded", () -> "v3".equals(w.worker().status().canaryVersion()),
                        Duration.ofSeconds(30));
                TestKafka.produce(broker, images("canary", 24));
                produced += 24;
                Map<String, Prediction> withCanary = predictions(broker, produced);
                assertThat(withCanary).hasSize(produced);
                Set<String> canaryVersions = new HashSet<>();
                for (int i = 0; i < 24; i++) {
                    canaryVersions.add(withCanary.get("canary-" + i).modelVersion());
                }
                assertThat(canaryVersions).containsExactlyInAnyOrder("v2", "v3");
                assertThat(w.worker().status().modelVersion()).isEqualTo("v2");
            }
        }
    }
}
