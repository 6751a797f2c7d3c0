package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.engine.EngineKind;
import io.vitstream.engine.EngineOptions;
import io.vitstream.serving.InferenceLanes.Forward;
import io.vitstream.serving.InferenceLanes.InFlight;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The lanes around a real tiny model: results in order, teacher sampling, failures kept as results. */
class InferenceLanesTest {
    @TempDir
    static Path dir;
    private static ServingModel model;
    private final WorkerMetrics metrics = new WorkerMetrics();
    private final Decoder decoder = new Decoder(10 * 1024 * 1024, 4_000_000, metrics);

    @BeforeAll
    static void loadModel() {
        ModelArtifact.Loaded loaded = ModelArtifact.load(TestKafka.tinyModel(dir, "v1", 11));
        model = new ServingModel(loaded, loaded.engine(EngineOptions.of(EngineKind.ONNXRUNTIME)));
    }

    @AfterAll
    static void closeModel() {
        model.close();
    }

    InferenceLanesTest() {
        metrics.bindTo(new SimpleMeterRegistry());
    }

    private Decoder.Decoded images(int partition, int count) {
        List<ConsumerRecord<String, byte[]>> records = IntStream.range(0, count)
                .mapToObj(i -> new ConsumerRecord<>("vit.images", partition, i, "k" + i, TestImages.png(i)))
                .toList();
        return decoder.decode(records, model.manifest().input());
    }

    private Decoder.Decoded garbage(int count) {
        List<ConsumerRecord<String, byte[]>> records = IntStream.range(0, count)
                .mapToObj(i -> new ConsumerRecord<>("vit.images", 0, i, "k" + i, new byte[] {1, 2, 3}))
                .toList();
        return decoder.decode(records, model.manifest().input());
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            best = v[i] > v[best] ? i : best;
        }
        return best;
    }

    @Test
    void aLaneRunsTheModelAtTheBatchsKeepRatio() {
        try (InferenceLanes lanes = new InferenceLanes("w", 2, null, 0, metrics)) {
            Decoder.Decoded batch = images(0, 3);
            lanes.submit(batch, model, 0.5);

            List<InFlight> done = lanes.takeFinished(true);

            assertThat(done).singleElement().satisfies(f -> {
                assertThat(f.batch).isSameAs(batch);
                assertThat(f.model).isSameAs(model);
                assertThat(f.keepRatio).isEqualTo(0.5);
                Forward fw = f.result();
                assertThat(fw.error()).isNull();
                assertThat(fw.logits()).isDeepEqualTo(model.logits(batch.pixels(), 3, 0.5));
                assertThat(fw.teacherClasses()).containsOnlyNulls().hasSize(3);
            });
            assertThat(lanes.busy()).isFalse();
        }
    }

    @Test
    void theTeacherScoresItsShareOfInputsSpreadEvenly() {
        try (InferenceLanes lanes = new InferenceLanes("w", 1, model, 0.5, metrics)) {
            Decoder.Decoded batch = images(0, 4);
            lanes.submit(batch, model, 0.5);

            Forward fw = lanes.takeFinished(true).get(0).result();

            float[][] dense = model.logits(batch.pixels(), 4, 1.0);
            assertThat(fw.teacherClasses()).containsExactly(null, argmax(dense[1]), null, argmax(dense[3]));
        }
    }

    @Test
    void batchesComeBackInSubmissionOrderAndTheQueueFillsAtTwicePerLanePlusOne() {
        try (InferenceLanes lanes = new InferenceLanes("w", 1, null, 0, metrics)) {
            List<Decoder.Decoded> submitted = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                assertThat(lanes.full()).isFalse();
                Decoder.Decoded b = i == 1 ? garbage(2) : images(0, 2); // nothing accepted: done at once
                submitted.add(b);
                lanes.submit(b, model, 1.0);
            }
            assertThat(lanes.full()).isTrue();

            List<InFlight> done = new ArrayList<>();
            while (lanes.busy()) {
                done.addAll(lanes.takeFinished(true));
            }

            assertThat(done).extracting(f -> f.batch).containsExactlyElementsOf(submitted);
            assertThat(done.get(1).result().logits()).isEmpty();
        }
    }

    @Test
    void revokedPartitionsAreMarkedInEveryUncommittedBatch() {
        try (InferenceLanes lanes = new InferenceLanes("w", 1, null, 0, metrics)) {
            lanes.submit(images(0, 1), model, 1.0);
            lanes.submit(images(1, 1), model, 1.0);
            lanes.dropRevoked(List.of(new TopicPartition("vit.images", 1)));

            List<InFlight> done = new ArrayList<>();
            while (lanes.busy()) {
                done.addAll(lanes.takeFinished(true));
            }

            assertThat(done.get(0).kept(done.get(0).batch.records().get(0))).isTrue();
            assertThat(done.get(1).kept(done.get(1).batch.records().get(0))).isFalse();
        }
    }

    @Test
    void aFailingForwardPassIsAResultNotAnException() {
        try (InferenceLanes lanes = new InferenceLanes("w", 1, null, 0, metrics)) {
            Decoder.Decoded two = images(0, 2);
            // Pixels for one image where two were accepted: the model refuses the shape.
            lanes.submit(new Decoder.Decoded(two.records(), two.accepted(), two.rejected(), images(0, 1).pixels()),
                    model, 1.0);

            Forward fw = lanes.takeFinished(true).get(0).result();

            assertThat(fw.error()).isNotNull();
            assertThat(fw.logits()).isNull();
        }
    }

    @Test
    void discardAllForgetsEveryBatchOnceTheLanesAreIdle() {
        try (InferenceLanes lanes = new InferenceLanes("w", 2, null, 0, metrics)) {
            lanes.submit(images(0, 2), model, 1.0);
            lanes.submit(images(0, 2), model, 1.0);
            lanes.discardAll();
            assertThat(lanes.busy()).isFalse();
            assertThat(lanes.takeFinished(false)).isEmpty();
        }
    }

    @Test
    void closeWaitsForARunningForwardPassHoweverLongItTakes() {
        InferenceLanes lanes = new InferenceLanes("w", 1, null, 0, metrics);
        lanes.closeWarnInterval(java.time.Duration.ofMillis(20)); // many warnings, no giving up
        lanes.delayForwards(400);
        lanes.submit(images(0, 2), model, 1.0);
        lanes.close();
        // Closed only after the pass: its result is there, so the model it used was never closed under it.
        List<InFlight> done = lanes.takeFinished(false);
        assertThat(done).singleElement().satisfies(f -> assertThat(f.result().logits()).hasNumberOfRows(2));
    }
}
