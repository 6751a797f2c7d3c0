package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.vitstream.kafka.Prediction;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

class PredictionBuilderTest {
    private static final List<String> NAMES = List.of("cat", "dog", "bird", "fish");
    private final PredictionBuilder builder = new PredictionBuilder(2, "worker-7");

    private static Decoder.Accepted accepted(long timestampMs, Integer label) {
        ConsumerRecord<String, byte[]> r = new ConsumerRecord<>("vit.images", 0, 5, timestampMs,
                TimestampType.CREATE_TIME, 0, 0, "req-1", new byte[0], new RecordHeaders(), Optional.empty());
        return new Decoder.Accepted(r, "req-1", label);
    }

    @Test
    void softmaxIsAProbabilityDistributionEvenForHugeLogits() {
        double[] p = PredictionBuilder.softmax(new float[] {1000f, 1000f, 999f});
        assertThat(p[0] + p[1] + p[2]).isCloseTo(1.0, within(1e-12));
        assertThat(p[0]).isCloseTo(p[1], within(1e-12));
        assertThat(p[0] / p[2]).isCloseTo(Math.E, within(1e-9));
    }

    @Test
    void theTopKAreTheMostProbableClassesInOrder() {
        var batch = new PredictionBuilder.Batch("v3", NAMES, 0.7, "slo", List.of(17, 12), 1234, 10_000, 8.5);
        Prediction p = builder.build(accepted(9_000, 2), new float[] {0.5f, -1f, 3f, 2f}, 1, batch, 10_020);

        assertThat(p.classIndex()).isEqualTo(2);
        assertThat(p.className()).isEqualTo("bird");
        assertThat(p.topK()).extracting(Prediction.TopK::classIndex).containsExactly(2, 3);
        assertThat(p.topK()).extracting(Prediction.TopK::className).containsExactly("bird", "fish");
        double[] prob = PredictionBuilder.softmax(new float[] {0.5f, -1f, 3f, 2f});
        assertThat(p.topK().get(0).probability()).isEqualTo(prob[2]);
        assertThat(p.topK().get(1).probability()).isEqualTo(prob[3]);
    }

    @Test
    void carriesTheBatchFactsAndTheInputsTimes() {
        var batch = new PredictionBuilder.Batch("v3", NAMES, 0.7, "slo", List.of(17, 12), 1234, 10_000, 8.5);
        Prediction p = builder.build(accepted(9_000, 2), new float[] {0, 1, 0, 0}, 1, batch, 10_020);

        assertThat(p.schema()).isEqualTo(Prediction.SCHEMA);
        assertThat(p.id()).isEqualTo("req-1");
        assertThat(p.modelVersion()).isEqualTo("v3");
        assertThat(p.keepRatio()).isEqualTo(0.7);
        assertThat(p.keepReason()).isEqualTo("slo");
        assertThat(p.tokensKept()).containsExactly(17, 12);
        assertThat(p.flops()).isEqualTo(1234);
        assertThat(p.queueMs()).isEqualTo(1000.0); // record timestamp to the batch's start
        assertThat(p.inferenceMs()).isEqualTo(8.5);
        assertThat(p.endToEndMs()).isEqualTo(1020.0);
        assertThat(p.worker()).isEqualTo("worker-7");
        assertThat(p.timestamp()).isEqualTo(Instant.ofEpochMilli(10_020).toString());
        assertThat(p.label()).isEqualTo(2);
        assertThat(p.teacherClassIndex()).isEqualTo(1);
    }

    @Test
    void aTimestampFromTheFutureGivesNoNegativeTimes() {
        var batch = new PredictionBuilder.Batch("v1", NAMES, 1.0, "fixed", List.of(50), 1, 10_000, 1.0);
        Prediction p = builder.build(accepted(20_000, null), new float[] {0, 0, 0, 1}, null, batch, 10_001);

        assertThat(p.queueMs()).isZero();
        assertThat(p.endToEndMs()).isZero();
        assertThat(p.label()).isNull();
        assertThat(p.teacherClassIndex()).isNull();
    }

    @Test
    void topKIsCutToTheClassCount() {
        var batch = new PredictionBuilder.Batch("v1", NAMES, 1.0, "fixed", List.of(50), 1, 0, 1.0);
        Prediction p = new PredictionBuilder(10, "w").build(accepted(0, null), new float[] {4, 3, 2, 1}, null, batch,
                0);
        assertThat(p.topK()).extracting(Prediction.TopK::classIndex).containsExactly(0, 1, 2, 3);
    }
}
