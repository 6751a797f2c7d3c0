package io.vitstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.InputSpec;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.ModelRecords;
import io.vitstream.kafka.Topics;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import io.vitstream.signing.ModelSigning;
import io.vitstream.testkit.TestBroker;
import java.awt.image.BufferedImage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import javax.imageio.ImageIO;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** keygen, publish-model and produce against a real broker; worker settings errors as one line. */
@Tag("integration")
class KafkaCommandsTest {
    @TempDir
    Path tmp;

    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    @Test
    void keygenPublishAndProduceWriteTheContract() throws Exception {
        Path keys = tmp.resolve("keys");
        assertThat(run("keygen", "--out", keys.toString()).code()).isZero();
        Path priv = keys.resolve(ModelSigning.PRIVATE_KEY_FILE);
        Path pub = keys.resolve(ModelSigning.PUBLIC_KEY_FILE);
        assertThat(Files.readString(priv)).startsWith("-----BEGIN PRIVATE KEY-----");
        CliRun again = run("keygen", "--out", keys.toString());
        assertThat(again.code()).isEqualTo(2);
        assertThat(again.err()).contains("refusing to overwrite");

        VitConfig tiny = VitConfig.uniform(28, 1, 7, 0, 16, 1, 2, 32, 10);
        Path model = tmp.resolve("m");
        try (VitModel m = VitModel.create(tiny)) {
            ModelArtifact.save(model, m, new Manifest(Manifest.FORMAT_VERSION, "cli-v1", null, tiny,
                    IntStream.range(0, 10).mapToObj(i -> "c" + i).toList(), InputSpec.fashionMnist(), 0, 0, null,
                    null, Map.of(), null, "2026-11-28T00:00:00Z"));
        }
        Path folder = tmp.resolve("images");
        for (String cls : List.of("a", "b")) {
            Files.createDirectories(folder.resolve(cls));
            for (int i = 0; i < 3; i++) {
                ImageIO.write(new BufferedImage(20, 20, BufferedImage.TYPE_INT_RGB), "png",
                        folder.resolve(cls).resolve(i + ".png").toFile());
            }
        }

        try (TestBroker broker = TestBroker.start(1)) {
            CliRun pubRes = run("publish-model", "--model", model.toString(), "--private-key", priv.toString(),
                    "--bootstrap-servers", broker.bootstrapServers(), "--activate", "--keep-ratio", "0.8");
            assertThat(pubRes.code()).as(pubRes.err()).isZero();
            assertThat(pubRes.out()).contains("published cli-v1").contains("activated cli-v1");
            assertThat(model.resolve(ModelSigning.SIGNATURE_FILE)).exists();

            List<ConsumerRecord<String, byte[]>> models = read(broker, Topics.MODELS, 2);
            ConsumerRecord<String, byte[]> manifest = models.stream()
                    .filter(r -> r.key().equals(ModelRecords.manifestKey("cli-v1"))).findFirst().orElseThrow();
            assertThat(manifest.value()).isEqualTo(Files.readAllBytes(model.resolve("manifest.json")));
            byte[] sig = Base64.getDecoder().decode(manifest.headers().lastHeader("signature").value());
            assertThat(ModelSigning.verify(manifest.value(), sig, ModelSigning.readPublicKey(pub))).isTrue();
            ControlMessage control = ControlMessage.SERDE.parse(read(broker, Topics.CONTROL, 1).get(0).value());
            assertThat(control).isEqualTo(ControlMessage.active("cli-v1", 0.8));

            CliRun prod = run("produce", "--bootstrap-servers", broker.bootstrapServers(), "--images",
                    folder.toString());
            assertThat(prod.code()).as(prod.err()).isZero();
            List<ConsumerRecord<String, byte[]>> images = read(broker, Topics.IMAGES, 6);
            assertThat(images).hasSize(6);
            assertThat(images).extracting(r -> new String(r.headers().lastHeader("label").value(),
                    StandardCharsets.US_ASCII)).containsOnly("0", "1");
        }
    }

    @Test
    void badWorkerSettingsAreOneLineNamingEachProblem() {
        CliRun r = run("worker", "--batch-max-size", "0", "--http-port", "http");
        assertThat(r.code()).isEqualTo(2);
        String err = r.err().strip();
        assertThat(err).doesNotContain("\n").startsWith("error: invalid worker configuration")
                .contains("bootstrap.servers is required").contains("batch.max.size must be between")
                .contains("http.port must be an integer").contains("model.public.key");
    }

    private static List<ConsumerRecord<String, byte[]>> read(TestBroker broker, String topic, int atLeast) {
        List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"), new StringDeserializer(),
                new ByteArrayDeserializer())) {
            List<TopicPartition> tps = c.partitionsFor(topic).stream()
                    .map(p -> new TopicPartition(topic, p.partition())).toList();
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = System.currentTimeMillis() + 20_000;
            while (out.size() < atLeast && System.currentTimeMillis() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(out::add);
            }
        }
        return out;
    }
}
