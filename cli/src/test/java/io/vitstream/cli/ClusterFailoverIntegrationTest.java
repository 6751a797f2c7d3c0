package io.vitstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vitstream.controller.Controller;
import io.vitstream.controller.ControllerConfig;
import io.vitstream.controller.state.ClusterFollower;
import io.vitstream.controller.state.ControllerTopics;
import io.vitstream.data.FashionMnist;
import io.vitstream.data.LabeledImages;
import io.vitstream.kafka.Labels;
import io.vitstream.kafka.Topics;
import io.vitstream.serving.InferenceWorker;
import io.vitstream.serving.WorkerConfig;
import io.vitstream.signing.ModelSigning;
import io.vitstream.testing.TestData;
import io.vitstream.testkit.KafkaCluster;
import io.vitstream.testkit.TestBroker;
import io.vitstream.testkit.TestModels;
import io.vitstream.util.Json;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A three-node KRaft cluster (replication 3, min ISR 2), one worker and the controller, labelled Fashion-MNIST images
 * streaming; mid-stream the node that coordinates the worker's transactions is killed with SIGKILL. Every input still
 * gets exactly one prediction for a read_committed reader, its leaderships move to the survivors, and the controller's
 * state survives: a policy change made before the kill reads back from {@code vit.controller-state}, one made after it
 * is written with one node down, {@code vit.control} is still readable and {@code /status} answers. The controller is
 * given nothing but the bootstrap list: its own topics take the cluster's replication.
 */
@Tag("integration")
class ClusterFailoverIntegrationTest {
    private static final String TOKEN = "cluster-token-0123456789abcdef";
    private static final String WORKER = "cw1";
    private static final int IMAGES = 800;
    private static final int RATE = 100;
    private static final int KILL_AT = 300;

    @TempDir
    Path tmp;

    @Test
    void aNodeKilledMidStreamLosesNothingDuplicatesNothingAndTheControllerKeepsItsState() throws Exception {
        long t0 = System.nanoTime();
        LabeledImages test = FashionMnist.load(TestData.fashionMnist(), FashionMnist.Split.TEST);
        KeyPair keys = ModelSigning.generate();
        Path keyDir = tmp.resolve("keys");
        ModelSigning.writeKeyPair(keys, keyDir);
        Path model = TestModels.tiny(tmp.resolve("models"), "v1", null, 5);

        try (TestBroker.Cluster broker = TestBroker.startCluster(3, 2)) {
            KafkaCluster cluster = broker.cluster();
            System.out.printf("%.1f s: three nodes ready%n", (System.nanoTime() - t0) / 1e9);
            assertThat(broker.bootstrapServers().split(",")).hasSize(3);
            TestModels.publish(broker, model, keys);
            TestModels.activate(broker, "v1", 1.0);
            SimpleMeterRegistry workerMeters = new SimpleMeterRegistry();
            InferenceWorker worker = InferenceWorker.create(WorkerConfig.parse(shortTransactions(TestModels.workerSettings(broker,
                    WORKER, keyDir.resolve(ModelSigning.PUBLIC_KEY_FILE)))), workerMeters);
            Thread loop = new Thread(worker, "cluster-worker");
            loop.setDaemon(true);
            loop.start();
            try (Controller controller = Controller.start(controllerConfig(broker, keyDir), Controller::streams,
                    (request, progress) -> {
                        throw new AssertionError("no re-prune in this test");
                    }, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), Clock.systemUTC());
                    Admin admin = Admin.create(broker.clientConfig());
                    KafkaProducer<String, byte[]> producer = new KafkaProducer<>(new HashMap<>(broker.clientConfig()),
                            new StringSerializer(), new ByteArraySerializer())) {
                // The controller was told only the bootstrap list: its own topics are replicated like the contract's.
                TopicDescription state = admin.describeTopics(List.of(ControllerTopics.STATE)).allTopicNames().get()
                        .get(ControllerTopics.STATE);
                assertThat(state.partitions().get(0).replicas()).hasSize(3);
                var imagesConfig = new ConfigResource(ConfigResource.Type.TOPIC, Topics.IMAGES);
                assertThat(admin.describeConfigs(List.of(imagesConfig)).all().get().get(imagesConfig)
                        .get(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG).value()).isEqualTo("2");

                System.out.printf("%.1f s: controller up%n", (System.nanoTime() - t0) / 1e9);
                // A policy change before the kill, durable on vit.controller-state.
                controller.setPolicy(Json.MAPPER.readTree("{\"window_s\": 7}"), "test");

                // The worker serving before the measured stream starts (its transactional id is then in use).
                for (int i = 0; i < 5; i++) {
                    producer.send(image(test, "warm-" + i, i));
                }
                producer.flush();
                Map<String, Integer> seen = new HashMap<>();
                FailoverIntegrationTest.readUntil(broker, seen, new ArrayList<>(), 5, Duration.ofSeconds(60));
                assertThat(seen).hasSize(5);

                System.out.printf("%.1f s: the worker serves%n", (System.nanoTime() - t0) / 1e9);
                KafkaCluster.Node victim = cluster.transactionCoordinator("vitstream-worker-" + WORKER);
                List<String> led = ledBy(admin, victim.id());
                long start = System.nanoTime();
                long killedAt = 0;
                CompletableFuture<Long> coordinatorMoved = null;
                for (int i = 0; i < IMAGES; i++) {
                    long wait = start + (long) (i * 1e9 / RATE) - System.nanoTime();
                    if (wait > 0) {
                        TimeUnit.NANOSECONDS.sleep(wait);
                    }
                    producer.send(image(test, "img-" + i, i));
                    if (i == KILL_AT) {
                        victim.kill(); // SIGKILL: no controlled shutdown, its leaderships still its own
                        killedAt = System.nanoTime();
                        coordinatorMoved = CompletableFuture.supplyAsync(() -> {
                            await("the transaction coordinator moved off " + victim, () -> cluster
                                    .transactionCoordinator("vitstream-worker-" + WORKER).id() != victim.id(), 90);
                            return System.nanoTime();
                        });
                    }
                }
                producer.flush();
                long lastSent = System.nanoTime();
                assertThat(victim.alive()).isFalse();
                System.out.printf("killed %s, coordinator of the worker's transactions and leader of %s%n", victim,
                        led);

                // Its leaderships moved to the two survivors, the transaction coordinator with them.
                long moved = coordinatorMoved.get(120, TimeUnit.SECONDS);
                System.out.printf("the transaction coordinator moved off %s %.1f s after the SIGKILL%n", victim,
                        (moved - killedAt) / 1e9);
                await("every partition it led has a live leader", () -> ledBy(admin, victim.id()).isEmpty(), 60);

                // Exactly one prediction per input, for a read_committed reader.
                seen.clear();
                long allVisible = FailoverIntegrationTest.readUntil(broker, seen, new ArrayList<>(), 5 + IMAGES,
                        Duration.ofSeconds(90));
                System.out.printf("node kill: all %d predictions visible %.1f s after the last input, %.1f s after"
                        + " the SIGKILL (%.1f s of input after it at %d images/s)%n", seen.size(),
                        (allVisible - lastSent) / 1e9, (allVisible - killedAt) / 1e9, (lastSent - killedAt) / 1e9,
                        RATE);
                assertThat(seen).as("one prediction per input; the killed node's log ends:%n%s",
                        victim.logTail(20)).hasSize(5 + IMAGES);
                assertThat(seen.values()).as("exactly one prediction per input").containsOnly(1);
                assertThat(worker.status().health()).isEqualTo("serving");
                System.out.printf("worker transactions aborted and their inputs read again: %.0f; producers replaced:"
                        + " %.0f%n", workerMeters.find("inference.transactions.aborted").counters().stream()
                        .mapToDouble(c -> c.count()).sum(), workerMeters.find("inference.producer.replaced").counters()
                        .stream().mapToDouble(c -> c.count()).sum());

                // The controller carries on: writes with one node down, state read back by a fresh reader.
                controller.setPolicy(Json.MAPPER.readTree("{\"accuracy_floor\": 0.07}"), "test");
                try (ClusterFollower fresh = new ClusterFollower(broker.clientConfig())) {
                    fresh.start();
                    fresh.awaitCaughtUp(Duration.ofSeconds(60));
                    JsonNode policy = Json.MAPPER.readTree(fresh.state().get(ControllerTopics.KEY_POLICY));
                    assertThat(policy.path("window_s").asDouble()).as("set before the kill").isEqualTo(7.0);
                    assertThat(policy.path("accuracy_floor").asDouble()).as("set after the kill").isEqualTo(0.07);
                    assertThat(fresh.control().activeVersion()).isEqualTo("v1");
                }
                System.out.printf("%.1f s: state read back%n", (System.nanoTime() - t0) / 1e9);
                HttpResponse<String> status = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + controller.adminPort() + "/status"))
                        .header("Authorization", "Bearer " + TOKEN).timeout(Duration.ofSeconds(30)).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(status.statusCode()).isEqualTo(200);
                JsonNode body = Json.MAPPER.readTree(status.body());
                assertThat(body.path("active_version").asText()).isEqualTo("v1");
                assertThat(body.path("window_s").asDouble()).isEqualTo(7.0);
                for (KafkaCluster.Node n : cluster.nodes()) {
                    assertThat(n.log()).as("node %d's log", n.id()).isRegularFile();
                }
            } finally {
                worker.close();
                loop.join(30_000);
            }
        }
    }

    /**
     * Transactions time out (2 s) before the coordinator moves (5-9 s): one open at the kill is aborted by the new
     * coordinator, which fences the worker's producer, and the worker must carry on with a new one (it used to stop).
     */
    private static Map<String, String> shortTransactions(Map<String, String> s) {
        s.put("kafka.transaction.timeout.ms", "2000");
        return s;
    }

    /** The controller with nothing about replication: the cluster's defaults (3, min ISR 2) apply. */
    private ControllerConfig controllerConfig(TestBroker broker, Path keyDir) {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("bootstrap.servers", broker.bootstrapServers());
        s.put("admin.token", TOKEN);
        s.put("admin.port", "0");
        s.put("admin.host", "127.0.0.1");
        s.put("signing.private.key", keyDir.resolve(ModelSigning.PRIVATE_KEY_FILE).toString());
        s.put("signing.public.key", keyDir.resolve(ModelSigning.PUBLIC_KEY_FILE).toString());
        s.put("work.dir", tmp.resolve("controller").toString());
        s.put("metrics.slice.ms", "1000");
        // Observing only: vit.control stays at v1, keep ratio 1.0 (an adaptive policy would hand the worker keep
        // bounds, and building a graph per keep ratio is not what this test is about).
        s.put("policy.enabled", "false");
        return ControllerConfig.parse(s);
    }

    private static ProducerRecord<String, byte[]> image(LabeledImages test, String id, int i) {
        int k = i % test.count();
        RecordHeaders h = new RecordHeaders();
        h.add(Topics.HEADER_LABEL, Labels.encode(test.labels()[k]));
        return new ProducerRecord<>(Topics.IMAGES, null, id, test.png(k), h);
    }

    /** The partitions of the contract's, the controller's and the transaction state topics that {@code node} leads. */
    private static List<String> ledBy(Admin admin, int node) {
        List<String> out = new ArrayList<>();
        List<String> topics = new ArrayList<>(Topics.ALL);
        topics.addAll(List.of(ControllerTopics.STATE, ControllerTopics.DECISIONS, "__transaction_state"));
        try {
            admin.describeTopics(topics).allTopicNames().get().forEach((name, d) -> {
                for (TopicPartitionInfo p : d.partitions()) {
                    if (p.leader() != null && p.leader().id() == node) {
                        out.add(name + "-" + p.partition());
                    }
                }
            });
        } catch (Exception e) {
            throw new IllegalStateException("cannot describe the topics: " + e.getMessage(), e);
        }
        return out;
    }

    /** Polls {@code condition} until it holds; one that throws (the cluster still electing) counts as not yet. */
    private static void await(String what, BooleanSupplier condition, int seconds) {
        Awaitility.await(what).atMost(Duration.ofSeconds(seconds)).pollInterval(Duration.ofMillis(200))
                .ignoreExceptions().until(condition::getAsBoolean);
    }
}
