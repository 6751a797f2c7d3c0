package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.InputSpec;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.serving.TestKafka.Image;
import io.vitstream.serving.TestKafka.RunningWorker;
import io.vitstream.serving.decode.ImageDecoder;
import io.vitstream.signing.ModelSigning;
import io.vitstream.sparsity.MergeSchedule;
import io.vitstream.testkit.TestBroker;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A worker told {@code token.reducer=tome} serves keep ratios below 1.0 by token merging: every prediction reports
 * the merge schedule's tokens and FLOPs, and its class is what DJL's merging forward pass gives on the same pixels.
 */
@Tag("integration")
class TokenReducerIntegrationTest {
    @TempDir
    Path tmp;

    @Test
    void aWorkerSetToTomeMergesTokensAtTheKeepRatioOnVitControl() throws Exception {
        KeyPair keys = ModelSigning.generate();
        Path publicKey = TestKafka.writeKeys(keys, tmp.resolve("keys"));
        Path v1 = TestKafka.tinyModel(tmp, "v1", 21);
        List<Image> images = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            images.add(new Image("img-" + i, TestImages.png(i), Map.of()));
        }
        KeepPolicy policy = new KeepPolicy(0.5, KeepPolicy.Method.TOME, false);
        MergeSchedule schedule = MergeSchedule.forPolicy(TestKafka.TINY,
                SparsifierConfig.defaultStages(TestKafka.TINY.depth()), policy);

        try (TestBroker broker = TestBroker.start(1)) {
            TestKafka.publish(broker, v1, keys);
            TestKafka.activate(broker, "v1", 0.5);
            var config = TestKafka.workerConfig(broker, "w1", publicKey, Map.of("token.reducer", "tome"));
            assertThat(config.tokenReducer()).isEqualTo(KeepPolicy.Method.TOME);
            try (RunningWorker w = RunningWorker.start(config)) {
                TestKafka.await("v1 at keep 0.5", () -> w.worker().ready() && w.worker().status().keepRatio() == 0.5,
                        Duration.ofSeconds(30));
                TestKafka.produce(broker, images);
                List<ConsumerRecord<String, byte[]>> records = TestKafka.readUntil(broker, Topics.PREDICTIONS, true,
                        l -> l.size() >= images.size(), Duration.ofSeconds(40));
                assertThat(records).hasSize(images.size());
                try (ModelArtifact.Loaded local = ModelArtifact.load(v1)) {
                    ImageDecoder decoder = new ImageDecoder(28, 10 << 20, 40_000_000);
                    InputSpec spec = local.manifest().input();
                    for (ConsumerRecord<String, byte[]> r : records) {
                        Prediction p = Prediction.SERDE.deserialize(Topics.PREDICTIONS, r.value());
                        assertThat(p.keepRatio()).isEqualTo(0.5);
                        assertThat(p.tokensKept()).containsExactlyElementsOf(
                                Arrays.stream(schedule.attentionTokens()).boxed().toList());
                        assertThat(p.flops()).isEqualTo(schedule.flops());
                        Image img = images.get(Integer.parseInt(p.id().substring("img-".length())));
                        float[] x = new float[spec.pixels()];
                        spec.normalize(decoder.decode(img.bytes(), null), 0, x, 0);
                        float[] logits = local.model().logits(x, 1, policy)[0];
                        int argmax = 0;
                        for (int c = 1; c < logits.length; c++) {
                            argmax = logits[c] > logits[argmax] ? c : argmax;
                        }
                        assertThat(p.classIndex()).as(p.id()).isEqualTo(argmax);
                    }
                }
            }
        }
    }
}
