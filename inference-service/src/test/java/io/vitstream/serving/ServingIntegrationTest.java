package io.vitstream.serving;

import static io.vitstream.serving.TestKafka.header;
import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.InputSpec;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.model.FlopCounter;
import io.vitstream.serving.TestKafka.Image;
import io.vitstream.serving.TestKafka.RunningWorker;
import io.vitstream.serving.decode.ImageDecoder;
import io.vitstream.serving.decode.RejectReason;
import io.vitstream.signing.ModelSigning;
import io.vitstream.testkit.TestBroker;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** One worker on a real broker: good inputs of every format are predicted once; every bad kind is dead-lettered. */
@Tag("integration")
class ServingIntegrationTest {
    @TempDir
    Path tmp;

    /** On both engines: ONNX Runtime serves by default, PyTorch is the fallback; classes are checked against DJL. */
    @ParameterizedTest(name = "engine {0}")
    @ValueSource(strings = {"onnxruntime", "pytorch"})
    void predictsEveryGoodInputOnceAndDeadLettersEveryBadOneInTheSameBatches(String engine) throws Exception {
        KeyPair keys = ModelSigning.generate();
        Path publicKey = TestKafka.writeKeys(keys, tmp.resolve("keys"));
        Path v1 = TestKafka.tinyModel(tmp, "v1", 11);

        // Good inputs of every accepted kind; some labelled, one with no key and no headers at all.
        Map<String, Image> good = new LinkedHashMap<>();
        for (int i = 0; i < 5; i++) {
            good.put("png-" + i, new Image("png-" + i, TestImages.png(i), Map.of("label", String.valueOf(i))));
            good.put("jpeg-" + i, new Image("jpeg-" + i, TestImages.jpeg(i), Map.of("content-type", "image/jpeg")));
            good.put("bmp-" + i, new Image("bmp-" + i, TestImages.bmp(i), Map.of()));
            good.put("gif-" + i, new Image("gif-" + i, TestImages.gif(i), Map.of("content-type", "image/gif")));
            good.put("raw-" + i, new Image("raw-" + i, TestImages.gray8(30, 20, i),
                    Map.of("content-type", "application/x-gray8; width=30; height=20", "label", "3")));
        }
        Image keyless = new Image(null, TestImages.png(99), Map.of());
        // One bad input of every kind.
        Map<String, Image> bad = new LinkedHashMap<>();
        bad.put("empty", new Image("bad-empty", new byte[0], Map.of()));
        bad.put("too_large", new Image("bad-too_large", new byte[10 * 1024 * 1024 + 1], Map.of()));
        bad.put("not_an_image", new Image("bad-not_an_image", "{\"hello\": 1}".getBytes(StandardCharsets.UTF_8),
                Map.of()));
        bad.put("unsupported_format", new Image("bad-unsupported_format", TestImages.tiff(), Map.of()));
        bad.put("too_many_pixels", new Image("bad-too_many_pixels", TestImages.pngBomb(100_000, 100_000), Map.of()));
        bad.put("corrupt_header", new Image("bad-corrupt_header", TestImages.pngCorruptHeader(), Map.of()));
        bad.put("truncated", new Image("bad-truncated", TestImages.truncated(TestImages.png(7)), Map.of()));

        List<Image> stream = new ArrayList<>();
        var goodIt = good.values().iterator();
        var badIt = bad.values().iterator();
        while (goodIt.hasNext() || badIt.hasNext()) { // interleaved, so bad and good share micro-batches
            for (int k = 0; k < 3 && goodIt.hasNext(); k++) {
                stream.add(goodIt.next());
            }
            if (badIt.hasNext()) {
                stream.add(badIt.next());
            }
        }
        stream.add(keyless);

        try (TestBroker broker = TestBroker.start(2)) {
            PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
            var config = TestKafka.workerConfig(broker, "w1", publicKey, Map.of("engine", engine));
            try (RunningWorker w = RunningWorker.start(config, registry);
                    HttpEndpoints http = HttpEndpoints.start(0, registry, w.worker())) {
                HttpClient client = HttpClient.newHttpClient();
                // No model yet: not ready.
                assertThat(get(client, http, "/ready").statusCode()).isEqualTo(503);

                TestKafka.publish(broker, v1, keys);
                TestKafka.activate(broker, "v1", 1.0);
                TestKafka.await("first model", w.worker()::ready, Duration.ofSeconds(30));
                assertThat(get(client, http, "/ready").statusCode()).isEqualTo(200);

                TestKafka.produce(broker, stream);
                int expected = good.size() + 1;
                List<ConsumerRecord<String, byte[]>> predictions = TestKafka.readUntil(broker, Topics.PREDICTIONS,
                        true, l -> l.size() >= expected, Duration.ofSeconds(45));
                List<ConsumerRecord<String, byte[]>> dead = TestKafka.readUntil(broker, Topics.DLQ, true,
                        l -> l.size() >= bad.size(), Duration.ofSeconds(20));

                // Exactly one prediction per good input, with the contract's fields.
                assertThat(predictions).hasSize(expected);
                Map<String, Prediction> byId = predictions.stream().collect(Collectors.toMap(ConsumerRecord::key,
                        r -> Prediction.SERDE.deserialize(Topics.PREDICTIONS, r.value())));
                assertThat(byId.keySet()).containsAll(good.keySet()).hasSize(expected);
                String generatedId = byId.keySet().stream().filter(k -> !good.containsKey(k)).findFirst().orElseThrow();
                assertThat(generatedId).isNotBlank();
                assertThat(byId.get(generatedId).id()).isEqualTo(generatedId);

                int tokens = TestKafka.TINY.numTokens();
                try (ModelArtifact.Loaded local = ModelArtifact.load(v1)) {
                    ImageDecoder decoder = new ImageDecoder(28, 10 << 20, 40_000_000);
                    InputSpec spec = local.manifest().input();
                    for (Image img : good.values()) {
                        Prediction p = byId.get(img.key());
                        assertThat(p.schema()).isEqualTo(1);
                        assertThat(p.id()).isEqualTo(img.key());
                        assertThat(p.modelVersion()).isEqualTo("v1");
                        assertThat(p.worker()).isEqualTo("w1");
                        assertThat(p.keepRatio()).isEqualTo(1.0);
                        assertThat(p.tokensKept()).containsExactly(tokens, tokens);
                        assertThat(p.flops()).isEqualTo(FlopCounter.perImage(TestKafka.TINY));
                        assertThat(p.topK()).hasSize(3);
                        assertThat(p.topK().get(0).classIndex()).isEqualTo(p.classIndex());
                        assertThat(p.className()).isEqualTo("class-" + p.classIndex());
                        assertThat(p.topK().get(0).probability()).isGreaterThanOrEqualTo(p.topK().get(1).probability());
                        assertThat(p.queueMs()).isGreaterThanOrEqualTo(0);
                        assertThat(p.endToEndMs()).isGreaterThanOrEqualTo(p.queueMs());
                        assertThat(p.timestamp()).endsWith("Z");
                        String label = img.headers().get("label");
                        assertThat(p.label()).isEqualTo(label == null ? null : Integer.valueOf(label));
                        // The class is what the same model computes locally on the same decoded pixels.
                        float[] x = new float[spec.pixels()];
                        spec.normalize(decoder.decode(img.bytes(), img.headers().get("content-type")), 0, x, 0);
                        float[] logits = local.model().logits(x, 1)[0];
                        int argmax = 0;
                        for (int c = 1; c < logits.length; c++) {
                            argmax = logits[c] > logits[argmax] ? c : argmax;
                        }
                        assertThat(p.classIndex()).as(img.key()).isEqualTo(argmax);
                    }
                }

                // Every bad input: once in the DLQ, original key and bytes, the reason in the error header.
                assertThat(dead).hasSize(bad.size());
                Map<String, ConsumerRecord<String, byte[]>> deadByKey = dead.stream()
                        .collect(Collectors.toMap(ConsumerRecord::key, Function.identity()));
                bad.forEach((reason, img) -> {
                    ConsumerRecord<String, byte[]> d = deadByKey.get(img.key());
                    assertThat(d).as(reason).isNotNull();
                    assertThat(header(d, Topics.HEADER_ERROR)).isEqualTo(reason);
                    assertThat(header(d, Topics.HEADER_ERROR_DETAIL)).isNotBlank();
                    assertThat(d.value()).isEqualTo(img.bytes());
                });

                // Metrics after traffic, as Prometheus sees them.
                String metrics = get(client, http, "/metrics").body();
                assertThat(metrics).contains("inference_latency_seconds_bucket{")
                        .contains("stage=\"end_to_end\"").contains("version=\"v1\"")
                        .contains("inference_images_total{").contains("inference_batch_size_bucket")
                        .contains("model_ready 1.0").contains("model_swaps_total{")
                        .contains("kafka_consumer_fetch_manager_records_lag");
                for (String reason : bad.keySet()) {
                    assertThat(metrics).containsPattern("inference_dlq_total\\{[^}]*reason=\"" + reason
                            + "\"[^}]*\\} 1\\.0");
                }
                assertThat(metrics).containsPattern("inference_images_total\\{[^}]*\\} " + expected + "\\.0");
                assertThat(w.worker().status().modelVersion()).isEqualTo("v1");
                assertThat(RejectReason.values()).extracting(RejectReason::wire).containsAll(bad.keySet());
            }
        }
    }

    private static HttpResponse<String> get(HttpClient client, HttpEndpoints http, String path) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http.port() + path)).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
