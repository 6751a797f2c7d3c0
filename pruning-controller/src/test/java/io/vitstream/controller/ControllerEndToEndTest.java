package io.vitstream.controller;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.controller.admin.Views;
import io.vitstream.controller.job.PruneRunner;
import io.vitstream.controller.policy.Action;
import io.vitstream.controller.policy.Decision;
import io.vitstream.controller.policy.Rule;
import io.vitstream.controller.pruner.PruneResult;
import io.vitstream.controller.rollout.RolloutPhase;
import io.vitstream.data.FashionMnist;
import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.evaluation.Evaluator;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.Labels;
import io.vitstream.kafka.Topics;
import io.vitstream.model.VitModel;
import io.vitstream.serving.InferenceWorker;
import io.vitstream.serving.WorkerConfig;
import io.vitstream.signing.ModelSigning;
import io.vitstream.testing.TestData;
import io.vitstream.testkit.TestBroker;
import io.vitstream.testkit.TestModels;
import io.vitstream.training.TrainOptions;
import io.vitstream.training.VitTrainer;
import io.vitstream.util.Json;
import io.vitstream.util.Seeds;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole loop on a real broker: two real workers serving a tiny trained model, labelled Fashion-MNIST images
 * flowing, the metrics topology, and the controller. (1) An SLO below the current latency makes the controller step
 * the keep ratio down to its floor and the workers apply it. (2) A deliberately worse new version (untrained) goes
 * out as a canary and is rolled back automatically on its labelled accuracy; every worker returns to the active
 * version. (3) A not-worse one (the same weights under a new version) is promoted.
 */
@Tag("integration")
class ControllerEndToEndTest {
    private static final String TOKEN = "e2e-token-0123456789abcdef";

    @TempDir
    Path tmp;

    @Test
    void theLoopLowersTheKeepRatioAndRollsABadCanaryBack() throws Exception {
        LabeledImages test = FashionMnist.load(TestData.fashionMnist(), FashionMnist.Split.TEST);
        KeyPair keys = ModelSigning.generate();
        ModelSigning.writeKeyPair(keys, tmp.resolve("keys"));
        Path v1 = trainedTiny(tmp.resolve("models"), "v1");

        AtomicReference<String> mode = new AtomicReference<>("untrained");
        LabeledImages validation = test.slice(5000, 5500);
        PruneRunner runner = (request, progress) -> {
            progress.update("fine-tune", 0.5, "test double: " + mode.get());
            Manifest parent = ModelArtifact.readManifest(request.parent());
            Manifest written;
            double accuracy;
            if (mode.get().equals("untrained")) {
                Path dir = TestModels.tiny(request.out().getParent(), request.newVersion(), parent.version(), 99);
                written = ModelArtifact.readManifest(dir);
            } else {
                try (ModelArtifact.Loaded same = ModelArtifact.load(request.parent())) {
                    written = ModelArtifact.save(request.out(), same.model(), new Manifest(Manifest.FORMAT_VERSION,
                            request.newVersion(), parent.version(), parent.architecture(), parent.classNames(),
                            parent.input(), 0, 0, null, null, Map.of("note", "same weights"), null,
                            "2026-11-28T00:00:00Z"));
                }
            }
            try (ModelArtifact.Loaded made = ModelArtifact.load(request.out())) {
                accuracy = Evaluator.evaluate(made.model(), made.manifest().input(), validation, 100).accuracy();
            }
            return new PruneResult(request.out(), written, parent.flopsPerImage(), written.flopsPerImage(), accuracy,
                    accuracy, null, null);
        };

        try (TestBroker broker = TestBroker.start(2)) {
            TestModels.publish(broker, v1, keys);
            TestModels.activate(broker, "v1", 1.0);
            Map<String, String> s = TestControllers.settings(broker, TOKEN, tmp.resolve("keys"),
                    tmp.resolve("controller"));
            s.put("metrics.slice.ms", "1000");
            s.put("metrics.join.window.ms", "5000");
            s.put("metrics.join.grace.ms", "1000");
            // An SLO of 1 ms: always exceeded. Fixed mode (one keep ratio, stepped by the controller; adaptive is the
            // default): step 0.25 per 2 s window down to the floor 0.5; no re-prune.
            s.put("policy.keep.mode", "fixed");
            s.put("policy.slo.ms", "1");
            s.put("policy.window.s", "2");
            s.put("policy.min.predictions", "5");
            s.put("policy.breach.windows", "1");
            s.put("policy.keep.step", "0.25");
            s.put("policy.keep.floor", "0.5");
            s.put("policy.keep.cooldown.s", "1");
            s.put("policy.accuracy.floor", "0.0");
            s.put("policy.reprune.enabled", "false");
            ControllerConfig config = ControllerConfig.parse(s);
            List<Decision> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
            AtomicBoolean flowing = new AtomicBoolean(true);
            PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
            try (Workers workers = new Workers(broker, tmp.resolve("keys").resolve(ModelSigning.PUBLIC_KEY_FILE));
                    Controller controller = Controller.start(config, Controller::streams, runner,
                            registry, Clock.systemUTC())) {
                controller.addDecisionListener(seen::add);
                Thread traffic = new Thread(() -> stream(broker, test, flowing), "e2e-traffic");
                traffic.setDaemon(true);
                traffic.start();

                // (1) SLO below the latency: the keep ratio steps down to the floor, and the workers apply it.
                await("keep ratio 0.5 on vit.control", () -> controller.control().keepRatio() == 0.5, 120);
                await("both workers at keep ratio 0.5", () -> workers.all(w -> w.status().keepRatio() == 0.5), 30);
                // The controller writes vit.control before it records the decision: wait for the record too.
                await("both decisions recorded", () -> seen.stream()
                        .filter(d -> d.action() == Action.LOWER_KEEP_RATIO).count() >= 2, 10);
                List<Decision> lowered = seen.stream().filter(d -> d.action() == Action.LOWER_KEEP_RATIO).toList();
                assertThat(lowered).extracting(Decision::keepRatio).containsExactly(0.75, 0.5);
                assertThat(lowered).allSatisfy(d -> {
                    assertThat(d.rule()).isEqualTo(Rule.LATENCY);
                    assertThat(d.reason()).matches("p95 \\d+ ms > SLO 1 ms for \\d+ windows \\(v1, .*");
                });
                assertThat(controller.status().policyState()).isIn("at_floor", "over_slo");
                await("per-version meters", () -> registry.scrape().contains("controller_workers{version=\"v1\"} 2.0"),
                        10);
                assertThat(registry.scrape()).contains("controller_keep_ratio 0.5",
                        "controller_version_latency_seconds{quantile=\"0.95\",version=\"v1\"}",
                        "controller_version_accuracy{version=\"v1\"}",
                        "controller_version_role{role=\"active\",version=\"v1\"} 1.0",
                        "controller_decisions_total{rule=\"latency\"} 2.0");

                // (2) A worse canary (untrained) is rolled back on its labelled accuracy. Compared at keep ratio
                // 1.0, where the tiny dense model is at its best (its CLS-attention ranking loses much at 0.5).
                controller.setPolicy(Json.MAPPER.readTree("{\"enabled\": false, \"accuracy_floor\": 0.05,"
                        + " \"canary_share\": 0.5, \"canary_samples\": 60, \"canary_margin\": 0.02,"
                        + " \"canary_load_timeout_s\": 60}"), "test");
                controller.setKeepRatio(1.0, "test");
                String bad = controller.prune(0.5, "test").newVersion();
                await("rollout of " + bad + " decided", () -> controller.rolloutState().version() != null
                        && controller.rolloutState().version().equals(bad)
                        && !controller.rolloutState().phase().inProgress(), 180);
                assertThat(controller.rolloutState().phase()).as(controller.rolloutState().reason())
                        .isEqualTo(RolloutPhase.ROLLED_BACK);
                await("the roll-back decision recorded", () -> seen.stream()
                        .anyMatch(d -> d.action() == Action.ROLLBACK_CANARY), 10);
                Decision verdict = last(seen, Action.ROLLBACK_CANARY);
                assertThat(verdict.rule()).isEqualTo(Rule.CANARY);
                assertThat(verdict.reason()).contains("canary " + bad + " accuracy", "worse by", "roll back to v1");
                assertThat(controller.rolloutState().canaryLabelled()).isGreaterThanOrEqualTo(60);
                assertThat(registry.scrape()).contains("controller_rollout_state{state=\"rolled_back\"} 1.0",
                        "controller_job_duration_seconds_count{outcome=\"succeeded\"} 1");
                await("vit.control back to v1 alone",
                        () -> controller.control().equals(ControlMessage.active("v1", 1.0)), 10);
                await("every worker back on v1 alone", () -> workers.all(w -> "v1".equals(w.status().modelVersion())
                        && w.status().canaryVersion() == null), 30);
                assertThat(seen).extracting(Decision::action).containsSubsequence(Action.PRUNE_FINISHED,
                        Action.START_CANARY, Action.ROLLBACK_CANARY);

                // (3) A not-worse one (same weights, new version) is promoted and every worker serves it.
                mode.set("same");
                controller.setPolicy(Json.MAPPER.readTree("{\"canary_margin\": 0.3}"), "test");
                String same = controller.prune(0.5, "test").newVersion();
                await("rollout of " + same + " decided", () -> same.equals(controller.rolloutState().version())
                        && !controller.rolloutState().phase().inProgress(), 180);
                assertThat(controller.rolloutState().phase()).as(controller.rolloutState().reason())
                        .isEqualTo(RolloutPhase.PROMOTED);
                await("vit.control on " + same,
                        () -> controller.control().equals(ControlMessage.active(same, 1.0)), 10);
                await("every worker on " + same, () -> workers.all(w -> same.equals(w.status().modelVersion())), 60);
                Views.Version promoted = controller.versions().stream().filter(v -> v.version().equals(same))
                        .findFirst().orElseThrow();
                assertThat(promoted.role()).isEqualTo("active");
                assertThat(promoted.parentVersion()).isEqualTo("v1");
                assertThat(controller.versions().stream().filter(v -> v.version().equals(bad)).findFirst()
                        .orElseThrow().status()).isEqualTo("rolled_back");
            } finally {
                flowing.set(false);
            }
        }
    }

    private static Decision last(List<Decision> seen, Action action) {
        Decision found = null;
        for (Decision d : seen) {
            if (d.action() == action) {
                found = d;
            }
        }
        assertThat(found).as("a %s decision", action).isNotNull();
        return found;
    }

    /** A tiny ViT trained briefly on Fashion-MNIST: well above chance, unlike an untrained one. */
    private static Path trainedTiny(Path root, String version) {
        LabeledImages train = FashionMnist.load(TestData.fashionMnist(), FashionMnist.Split.TRAIN).limit(3000);
        Seeds.seedAll(11);
        try (VitModel model = VitModel.create(TestModels.TINY)) {
            VitTrainer.train(model, InputSpec.fashionMnist(), train, null,
                    new TrainOptions(2, 32, 0.003f, 0.0001f, 0.01f, 0.3f, 0.0f, 0, false, 11), 0, false, e -> { });
            Path dir = root.resolve(version);
            ModelArtifact.save(dir, model, new Manifest(Manifest.FORMAT_VERSION, version, null, TestModels.TINY,
                    FashionMnist.CLASS_NAMES, InputSpec.fashionMnist(), 0, 0, null, null, Map.of("note", "e2e"), null,
                    "2026-11-28T00:00:00Z"));
            return dir;
        }
    }

    /** Labelled test images as PNG, about 100 per second, until told to stop. */
    private static void stream(TestBroker broker, LabeledImages test, AtomicBoolean flowing) {
        List<byte[]> pngs = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            pngs.add(test.png(i));
        }
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(broker.clientConfig(),
                new StringSerializer(), new ByteArraySerializer())) {
            for (int n = 0; flowing.get(); n++) {
                int i = n % pngs.size();
                RecordHeaders h = new RecordHeaders();
                h.add(Topics.HEADER_LABEL, Labels.encode(test.labels()[i]));
                producer.send(new ProducerRecord<>(Topics.IMAGES, null, "e2e-" + n, pngs.get(i), h));
                if (n % 10 == 9) {
                    producer.flush();
                    Thread.sleep(100);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void await(String what, BooleanSupplier condition, int seconds) {
        Awaitility.await(what).atMost(Duration.ofSeconds(seconds)).pollInterval(Duration.ofMillis(100))
                .until(condition::getAsBoolean);
    }

    /** Two real inference workers on their own threads. */
    private static final class Workers implements AutoCloseable {
        private final List<InferenceWorker> workers = new ArrayList<>();
        private final List<Thread> threads = new ArrayList<>();

        Workers(TestBroker broker, Path publicKey) {
            for (String id : List.of("w1", "w2")) {
                InferenceWorker w = InferenceWorker.create(
                        WorkerConfig.parse(TestModels.workerSettings(broker, id, publicKey)), new SimpleMeterRegistry());
                Thread t = new Thread(w, "e2e-worker-" + id);
                t.setDaemon(true);
                t.start();
                workers.add(w);
                threads.add(t);
            }
        }

        boolean all(java.util.function.Predicate<InferenceWorker> p) {
            return workers.stream().allMatch(p);
        }

        @Override
        public void close() throws Exception {
            for (InferenceWorker w : workers) {
                w.close();
            }
            for (Thread t : threads) {
                t.join(30_000);
            }
        }
    }
}
