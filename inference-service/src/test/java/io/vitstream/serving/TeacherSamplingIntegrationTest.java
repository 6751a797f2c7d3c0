package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.InputSpec;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.serving.TestKafka.Image;
import io.vitstream.serving.TestKafka.RunningWorker;
import io.vitstream.serving.decode.ImageDecoder;
import io.vitstream.signing.ModelSigning;
import io.vitstream.testkit.TestBroker;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Dense-teacher sampling on a real broker with real tiny models: three workers in three consumer groups predict the
 * same images with teacher shares 1.0, 0.5 and off; the sampled predictions carry the teacher's class.
 */
@Tag("integration")
class TeacherSamplingIntegrationTest {
    private static final int IMAGES = 10;

    @TempDir
    Path tmp;

    @Test
    void theSampledShareCarriesTheDenseTeachersClass() throws Exception {
        Path publicKey = TestKafka.writeKeys(ModelSigning.generate(), tmp.resolve("keys"));
        Path student = TestKafka.tinyModel(tmp, "student", 11);
        Path teacher = TestKafka.tinyModel(tmp, "teacher", 23);
        List<Image> images = new ArrayList<>();
        for (int i = 0; i < IMAGES; i++) {
            images.add(new Image("img-" + i, TestImages.png(i), Map.of()));
        }

        try (TestBroker broker = TestBroker.start(1);
                RunningWorker all = start(broker, publicKey, "all", student, teacher, "1.0");
                RunningWorker half = start(broker, publicKey, "half", student, teacher, "0.5");
                RunningWorker off = start(broker, publicKey, "off", student, null, null)) {
            TestKafka.produce(broker, images);
            List<ConsumerRecord<String, byte[]>> records = TestKafka.readUntil(broker, Topics.PREDICTIONS, true,
                    l -> l.size() >= 3 * IMAGES, Duration.ofSeconds(60));
            assertThat(records).hasSize(3 * IMAGES);
            Map<String, List<Prediction>> byWorker = records.stream()
                    .map(r -> Prediction.SERDE.deserialize(Topics.PREDICTIONS, r.value()))
                    .collect(Collectors.groupingBy(Prediction::worker));

            // Share 1.0: every prediction has the teacher's class, the one the teacher computes locally.
            try (ModelArtifact.Loaded local = ModelArtifact.load(teacher)) {
                ImageDecoder decoder = new ImageDecoder(28, 10 << 20, 40_000_000);
                InputSpec spec = local.manifest().input();
                Map<String, byte[]> bytes = images.stream().collect(Collectors.toMap(Image::key, Image::bytes));
                assertThat(byWorker.get("all")).hasSize(IMAGES).allSatisfy(p -> {
                    float[] x = new float[spec.pixels()];
                    spec.normalize(decoder.decode(bytes.get(p.id()), null), 0, x, 0);
                    assertThat(p.teacherClassIndex()).as(p.id()).isEqualTo(argmax(local.model().logits(x, 1)[0]));
                });
            }
            // Share 0.5: a running credit picks exactly every second input.
            assertThat(byWorker.get("half")).hasSize(IMAGES)
                    .filteredOn(p -> p.teacherClassIndex() != null).hasSize(IMAGES / 2);
            // Off (the default): the field is absent from the JSON.
            assertThat(byWorker.get("off")).hasSize(IMAGES).allSatisfy(p -> assertThat(p.teacherClassIndex()).isNull());
            List<String> json = records.stream().map(r -> new String(r.value(), StandardCharsets.UTF_8)).toList();
            assertThat(json).filteredOn(j -> j.contains("\"worker\":\"off\""))
                    .noneMatch(j -> j.contains("teacher_class_index"));
            assertThat(json).filteredOn(j -> j.contains("\"worker\":\"all\""))
                    .allMatch(j -> j.contains("\"teacher_class_index\":"));
        }
    }

    private static RunningWorker start(TestBroker broker, Path publicKey, String id, Path model, Path teacher,
            String share) {
        Map<String, String> extra = new java.util.HashMap<>(Map.of("group.id", "group-" + id, "model.dir",
                model.toString()));
        if (teacher != null) {
            extra.put("teacher.model.dir", teacher.toString());
            extra.put("teacher.sample.share", share);
        }
        return RunningWorker.start(TestKafka.workerConfig(broker, id, publicKey, extra));
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            best = v[i] > v[best] ? i : best;
        }
        return best;
    }
}
