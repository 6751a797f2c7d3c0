package io.vitstream.controller.stream;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.controller.stream.MetricsView.VersionStats;
import io.vitstream.kafka.Labels;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.testkit.TestBroker;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The metrics app on a real broker: committed predictions and a late label come back through the MetricsView. */
@Tag("integration")
class MetricsRunnerIntegrationTest {
    @TempDir
    Path tmp;

    @Test
    void countsCommittedPredictionsAndJoinedLabels() throws Exception {
        try (TestBroker broker = TestBroker.start(2);
                MetricsRunner runner = MetricsRunner.start(broker.bootstrapServers(), "metrics-it", tmp.resolve("state"),
                        MetricsSettings.defaults(), Map.of())) {
            assertThat(runner.awaitRunning(Duration.ofSeconds(60))).as("RUNNING").isTrue();

            Map<String, Object> p = new HashMap<>(broker.clientConfig());
            p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "metrics-it-producer");
            try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(),
                    new ByteArraySerializer())) {
                producer.initTransactions();
                producer.beginTransaction(); // aborted: a read_committed app never sees it
                producer.send(prediction("r0", "v-aborted", 5));
                producer.flush();
                producer.abortTransaction();
                producer.beginTransaction();
                producer.send(prediction("r1", "v1", 10));
                producer.send(prediction("r2", "v1", 20));
                producer.send(prediction("r3", "v1", 30));
                producer.send(new ProducerRecord<>(Topics.LABELS, "r2", Labels.encode(2))); // r2 predicted class 2
                producer.commitTransaction();
            }

            VersionStats v1 = Awaitility.await("v1's three predictions and a label").atMost(Duration.ofSeconds(60))
                    .pollInterval(Duration.ofMillis(200)).until(() -> runner.view().recent(Duration.ofMinutes(5))
                            .get("v1"), s -> s != null && s.labelled() >= 1 && s.predictions() >= 3);
            assertThat(v1).isNotNull();
            assertThat(v1.predictions()).isEqualTo(3);
            assertThat(v1.p50Ms()).isCloseTo(20, org.assertj.core.data.Offset.offset(0.2));
            assertThat(List.of(v1.labelled(), v1.correct())).containsExactly(1L, 1L);
            assertThat(runner.view().recent(Duration.ofMinutes(5))).containsOnlyKeys("v1");
        }
    }

    private static ProducerRecord<String, byte[]> prediction(String id, String version, double endToEndMs) {
        Prediction p = new Prediction(Prediction.SCHEMA, id, 2, "class-2", List.of(), version, 1.0, List.of(50), 1,
                0, 1, endToEndMs, "w1", Instant.now().toString(), null, null);
        return new ProducerRecord<>(Topics.PREDICTIONS, id, Prediction.SERDE.serialize(Topics.PREDICTIONS, p));
    }
}
