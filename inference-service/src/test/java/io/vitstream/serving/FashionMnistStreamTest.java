package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.FashionMnist;
import io.vitstream.data.LabeledImages;
import io.vitstream.evaluation.EvalResult;
import io.vitstream.evaluation.Evaluator;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.serving.TestKafka.Image;
import io.vitstream.serving.TestKafka.RunningWorker;
import io.vitstream.signing.ModelSigning;
import io.vitstream.testing.TestData;
import io.vitstream.testkit.TestBroker;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * 2,000 labelled Fashion-MNIST test images through the broker: 2,000 predictions, the offline accuracy; with one
 * inference lane (a GPU's default) and with three (more lanes than this machine's cores, so batches finish out of
 * order and must still be committed in order, exactly once).
 */
@Tag("integration")
class FashionMnistStreamTest {
    private static final int N = 2000;

    @TempDir
    Path tmp;

    @ParameterizedTest(name = "{0} inference lane(s)")
    @ValueSource(ints = {1, 3})
    void everyImageIsPredictedOnceWithTheOfflineAccuracy(int lanes) throws Exception {
        LabeledImages test = FashionMnist.load(TestData.fashionMnist(), FashionMnist.Split.TEST).limit(N);
        List<Image> images = new ArrayList<>(N);
        for (int i = 0; i < N; i++) {
            images.add(new Image("f-" + i, test.png(i), Map.of("label", String.valueOf(test.labels()[i]))));
        }
        KeyPair keys = ModelSigning.generate();
        Path publicKey = TestKafka.writeKeys(keys, tmp.resolve("keys"));
        Path v1 = TestKafka.tinyModel(tmp, "v1", 21);

        try (TestBroker broker = TestBroker.start(2)) {
            TestKafka.publish(broker, v1, keys);
            TestKafka.activate(broker, "v1", 1.0);
            try (RunningWorker w = RunningWorker.start(TestKafka.workerConfig(broker, "w1", publicKey,
                    Map.of("batch.max.size", "64", "inference.lanes", String.valueOf(lanes))))) {
                TestKafka.produce(broker, images);
                List<ConsumerRecord<String, byte[]>> recs = TestKafka.readUntil(broker, Topics.PREDICTIONS, true,
                        l -> l.size() >= N, Duration.ofSeconds(50));
                Map<String, Prediction> byId = new HashMap<>();
                for (ConsumerRecord<String, byte[]> r : recs) {
                    assertThat(byId.put(r.key(), Prediction.SERDE.deserialize(null, r.value()))).isNull();
                }
                assertThat(byId).hasSize(N);

                try (ModelArtifact.Loaded local = ModelArtifact.load(v1)) {
                    EvalResult offline = Evaluator.evaluate(local.model(), local.manifest().input(), test, 64);
                    long correct = byId.values().stream().filter(p -> p.label() == p.classIndex()).count();
                    assertThat((double) correct / N).isEqualTo(offline.accuracy());
                    assertThat(byId.values()).allSatisfy(p -> assertThat(p.label()).isNotNull());
                }
            }
        }
    }
}
