package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.serving.TestKafka.Image;
import io.vitstream.signing.ModelSigning;
import io.vitstream.testkit.TestBroker;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How a worker stops: an interrupt is an orderly stop, and close() before run() leaves run() nothing to touch. */
@Tag("integration")
class WorkerLifecycleIntegrationTest {
    @TempDir
    Path tmp;

    @Test
    void anInterruptStopsTheWorkerInOrderAndKeepsTheFlag() throws Exception {
        KeyPair keys = ModelSigning.generate();
        Path publicKey = TestKafka.writeKeys(keys, tmp.resolve("keys"));
        Path v1 = TestKafka.tinyModel(tmp, "v1", 3);
        try (TestBroker broker = TestBroker.start(2)) {
            TestKafka.publish(broker, v1, keys);
            TestKafka.activate(broker, "v1", 1.0);
            InferenceWorker worker = worker(broker, "w1", publicKey);
            AtomicReference<Throwable> failure = new AtomicReference<>();
            AtomicBoolean flagAfter = new AtomicBoolean();
            Thread loop = new Thread(() -> {
                try {
                    worker.run();
                } catch (Throwable t) {
                    failure.set(t);
                }
                flagAfter.set(Thread.currentThread().isInterrupted());
            }, "lifecycle-worker");
            loop.start();
            TestKafka.await("ready", worker::ready, Duration.ofSeconds(30));
            List<Image> images = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                images.add(new Image("img-" + i, TestImages.png(i), Map.of()));
            }
            TestKafka.produce(broker, images);
            TestKafka.readUntil(broker, Topics.PREDICTIONS, true, l -> l.size() >= 20, Duration.ofSeconds(30));

            loop.interrupt();
            loop.join(30_000);
            assertThat(loop.isAlive()).as("the worker stopped").isFalse();
            assertThat(failure.get()).as("run() returned normally").isNull();
            assertThat(flagAfter.get()).as("the interrupt flag is set again for the caller").isTrue();
            assertThat(worker.status().health()).isEqualTo("stopped");

            List<ConsumerRecord<String, byte[]>> predictions = TestKafka.readUntil(broker, Topics.PREDICTIONS, true,
                    l -> l.size() >= 20, Duration.ofSeconds(10));
            assertThat(predictions.stream().map(r -> Prediction.SERDE.parse(r.value()).id())
                    .collect(Collectors.groupingBy(id -> id, Collectors.counting())))
                    .hasSize(20).allSatisfy((id, n) -> assertThat(n).as(id).isEqualTo(1L));
        }
    }

    @Test
    void theHttpEndpointsLeaveNoThreadBehind() throws Exception {
        Path publicKey = TestKafka.writeKeys(ModelSigning.generate(), tmp.resolve("keys"));
        try (TestBroker broker = TestBroker.start(1)) {
            InferenceWorker worker = worker(broker, "w3", publicKey);
            try {
                HttpEndpoints http = HttpEndpoints.start(0, new io.micrometer.prometheusmetrics.PrometheusMeterRegistry(
                        io.micrometer.prometheusmetrics.PrometheusConfig.DEFAULT), worker);
                assertThat(get(http, "/health").statusCode()).isEqualTo(200);
                assertThat(httpThreads("w3")).isPositive();
                http.close();
                TestKafka.await("the endpoint's threads ended", () -> httpThreads("w3") == 0, Duration.ofSeconds(10));
            } finally {
                worker.close();
            }
        }
    }

    @Test
    void aDeadModelFollowerMakesTheWorkerUnhealthy() throws Exception {
        Path publicKey = TestKafka.writeKeys(ModelSigning.generate(), tmp.resolve("keys"));
        Path v1 = TestKafka.tinyModel(tmp, "v1", 4);
        try (TestBroker broker = TestBroker.start(1)) {
            // Without the control and model topics the follower has nothing to read and its loop dies at once.
            try (var admin = org.apache.kafka.clients.admin.Admin.create(broker.clientConfig())) {
                admin.deleteTopics(List.of(Topics.CONTROL, Topics.MODELS)).all().get();
            }
            try (TestKafka.RunningWorker w = TestKafka.RunningWorker.start(TestKafka.workerConfig(broker, "w4",
                    publicKey, Map.of("model.dir", v1.toString())));
                    HttpEndpoints http = HttpEndpoints.start(0, new io.micrometer.prometheusmetrics
                            .PrometheusMeterRegistry(io.micrometer.prometheusmetrics.PrometheusConfig.DEFAULT),
                            w.worker())) {
                TestKafka.await("unhealthy", () -> w.worker().status().health().equals("unhealthy"),
                        Duration.ofSeconds(60));
                assertThat(w.worker().status().lastError()).contains("model follower stopped");
                var response = get(http, "/health");
                assertThat(response.statusCode()).isEqualTo(503);
                assertThat(response.body()).contains("\"health\":\"unhealthy\"");
            }
        }
    }

    /** A worker on {@code broker} with the test settings, created but not running. */
    private static InferenceWorker worker(TestBroker broker, String id, Path publicKey) {
        return InferenceWorker.create(TestKafka.workerConfig(broker, id, publicKey, Map.of()), new SimpleMeterRegistry());
    }

    private static java.net.http.HttpResponse<String> get(HttpEndpoints http, String path) throws Exception {
        return java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://127.0.0.1:" + http.port() + path)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
    }

    private static long httpThreads(String workerId) {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().equals("http-" + workerId) && t.isAlive()).count();
    }

    @Test
    void closeBeforeRunLeavesRunNothingToDo() throws Exception {
        Path publicKey = TestKafka.writeKeys(ModelSigning.generate(), tmp.resolve("keys"));
        try (TestBroker broker = TestBroker.start(1)) {
            InferenceWorker worker = worker(broker, "w2", publicKey);
            worker.close(); // from the thread that would have started it: the clients are closed here
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread loop = new Thread(() -> {
                try {
                    worker.run(); // would use the closed consumer without the claim on the lifecycle
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            loop.start();
            loop.join(10_000);
            assertThat(loop.isAlive()).isFalse();
            assertThat(failure.get()).isNull();
            worker.awaitStopped();
        }
    }
}
