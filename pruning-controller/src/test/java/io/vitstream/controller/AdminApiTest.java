package io.vitstream.controller;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vitstream.controller.job.PruneRunner;
import io.vitstream.controller.policy.Decision;
import io.vitstream.controller.policy.Rule;
import io.vitstream.controller.state.ClusterFollower;
import io.vitstream.controller.state.KafkaControlPlane;
import io.vitstream.controller.stream.MetricsView;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.signing.ModelSigning;
import io.vitstream.testkit.TestBroker;
import io.vitstream.testkit.TestModels;
import io.vitstream.util.Json;
import io.vitstream.util.UserError;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The admin API on a real controller and broker: authentication on every admin endpoint (reads too) with no state
 * change when it fails, 400 for bad input, 404 for unknown versions, 409 for a second prune, and audited mutations
 * that reach vit.control.
 */
@Tag("integration")
class AdminApiTest {
    private static final String TOKEN = "test-token-0123456789abcdef";

    @TempDir
    Path tmp;

    private final HttpClient http = HttpClient.newHttpClient();
    private int port;

    /** A metrics view with no figures: the policy is paused here, nothing reads them. */
    static final MetricsView NO_METRICS = new MetricsView() {
        @Override
        public Map<String, VersionStats> recent(Duration window) {
            return Map.of();
        }

        @Override
        public LabelledCount labelledSince(String version, java.time.Instant since) {
            return new LabelledCount(0, 0);
        }
    };

    private HttpResponse<String> call(String method, String path, String token, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(60))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode json(HttpResponse<String> r) throws Exception {
        return Json.MAPPER.readTree(r.body());
    }

    @Test
    void adminEndpointsAuthenticateValidateAndAudit() throws Exception {
        KeyPair keys = ModelSigning.generate();
        ModelSigning.writeKeyPair(keys, tmp.resolve("keys"));
        CountDownLatch release = new CountDownLatch(1);
        PruneRunner blocking = (request, progress) -> {
            progress.update("saliency", 0.25, "held by the test");
            release.await(120, TimeUnit.SECONDS);
            throw new IllegalStateException("released by the test");
        };
        try (TestBroker broker = TestBroker.start(1)) {
            TestModels.publish(broker, TestModels.tiny(tmp, "v0", null, 1), keys);
            TestModels.publish(broker, TestModels.tiny(tmp, "v1", "v0", 2), keys);
            TestModels.activate(broker, "v1", 0.9);

            Map<String, String> s = TestControllers.settings(broker, TOKEN, tmp.resolve("keys"), tmp.resolve("work"));
            s.put("policy.enabled", "false");
            ControllerConfig config = ControllerConfig.parse(s);
            PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
            try (Controller controller = Controller.start(config, c -> () -> NO_METRICS, blocking, registry,
                    Clock.systemUTC())) {
                port = controller.adminPort();

                // Open endpoints.
                assertThat(call("GET", "/health", null, null).statusCode()).isEqualTo(200);
                HttpResponse<String> metrics = call("GET", "/metrics", null, null);
                assertThat(metrics.statusCode()).isEqualTo(200);
                assertThat(metrics.body()).contains("controller_keep_ratio 0.9", "controller_slo_seconds 0.25",
                        "controller_decisions_total{rule=\"admin\"} 0.0", "controller_policy_state{state=\"paused\"} 1.0",
                        "controller_rollout_state{state=\"idle\"} 1.0", "controller_job_running 0.0",
                        "jvm_memory_used_bytes");

                // Every admin endpoint, reads included: 401 without a token and with a wrong one.
                List<String[]> endpoints = List.of(
                        new String[] {"GET", "/status", null}, new String[] {"GET", "/versions", null},
                        new String[] {"GET", "/decisions", null}, new String[] {"GET", "/policy", null},
                        new String[] {"PUT", "/policy", "{\"slo_ms\": 10}"},
                        new String[] {"POST", "/prune", "{\"target_flops_ratio\": 0.5}"},
                        new String[] {"POST", "/activate/v0", null}, new String[] {"POST", "/rollback", null},
                        new String[] {"POST", "/keep-ratio", "{\"keep_ratio\": 0.5}"});
                for (String[] e : endpoints) {
                    for (String token : new String[] {null, "wrong-token-0123456789", TOKEN + "x", ""}) {
                        HttpResponse<String> r = call(e[0], e[1], token, e[2]);
                        assertThat(r.statusCode()).as("%s %s with token %s", e[0], e[1], token).isEqualTo(401);
                        assertThat(json(r).get("error").asText()).contains("bearer token");
                        assertThat(r.headers().firstValue("WWW-Authenticate")).hasValueSatisfying(
                                h -> assertThat(h).startsWith("Bearer"));
                    }
                }
                HttpResponse<String> basic = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                        + "/status")).header("Authorization", "Basic " + TOKEN).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(basic.statusCode()).isEqualTo(401);
                // ... and nothing changed.
                assertThat(controller.control()).isEqualTo(ControlMessage.active("v1", 0.9));
                assertThat(controller.job()).isNull();
                assertThat(controller.decisions()).isEmpty();
                assertThat(controller.policy().sloMs()).isEqualTo(250);

                // Reads with the token.
                JsonNode status = json(call("GET", "/status", TOKEN, null));
                assertThat(status.get("active_version").asText()).isEqualTo("v1");
                assertThat(status.get("keep_ratio").asDouble()).isEqualTo(0.9);
                assertThat(status.get("policy_state").asText()).isEqualTo("paused");
                JsonNode versions = json(call("GET", "/versions", TOKEN, null));
                assertThat(versions).hasSize(2);
                assertThat(versions.get(1).get("version").asText()).isEqualTo("v1");
                assertThat(versions.get(1).get("parent_version").asText()).isEqualTo("v0");
                assertThat(versions.get(1).get("role").asText()).isEqualTo("active");
                assertThat(versions.get(1).get("signed").asBoolean()).isTrue();
                assertThat(json(call("GET", "/policy", TOKEN, null)).get("keep_cooldown_s").asDouble())
                        .isEqualTo(30.0);

                // Validation: 400 with a message, nothing changed.
                HttpResponse<String> bad = call("POST", "/keep-ratio", TOKEN, "{\"keep_ratio\": 0.5");
                assertThat(bad.statusCode()).isEqualTo(400);
                assertThat(json(bad).get("error").asText()).startsWith("malformed JSON");
                assertThat(call("PUT", "/policy", TOKEN, "{slo_ms: 1}").statusCode()).isEqualTo(400);
                assertThat(call("POST", "/prune", TOKEN, "not json").statusCode()).isEqualTo(400);
                assertThat(json(call("POST", "/keep-ratio", TOKEN, "{\"keep_ratio\": 1.5}")).get("error").asText())
                        .isEqualTo("keep_ratio must be in (0, 1], got 1.5");
                assertThat(json(call("POST", "/keep-ratio", TOKEN, "{\"keep_ratio\": \"0.5\"}")).get("error")
                        .asText()).isEqualTo("keep_ratio (a number in (0, 1]) is required, got \"0.5\"");
                assertThat(json(call("POST", "/keep-ratio", TOKEN, "{\"keep\": 0.5}")).get("error").asText())
                        .isEqualTo("unknown field keep (expected keep_ratio)");
                assertThat(call("POST", "/keep-ratio", TOKEN, "").statusCode()).isEqualTo(400);
                HttpResponse<String> badPolicy = call("PUT", "/policy", TOKEN, "{\"slo_ms\": -5, \"keep_floor\": 0}");
                assertThat(badPolicy.statusCode()).isEqualTo(400);
                assertThat(json(badPolicy).get("error").asText()).isEqualTo("invalid policy: slo_ms must be > 0,"
                        + " got -5.0; keep_floor must be in (0.0, 1.0], got 0.0");
                assertThat(call("POST", "/prune", TOKEN, "{\"target_flops_ratio\": 1.0}").statusCode())
                        .isEqualTo(400);
                assertThat(controller.control()).isEqualTo(ControlMessage.active("v1", 0.9));
                assertThat(controller.policy().sloMs()).isEqualTo(250);

                // Unknown version: 404.
                HttpResponse<String> unknown = call("POST", "/activate/nope", TOKEN, null);
                assertThat(unknown.statusCode()).isEqualTo(404);
                assertThat(json(unknown).get("error").asText()).isEqualTo("unknown version nope (not published on"
                        + " vit.models)");

                // Mutations with the token reach vit.control and are audited with who did them.
                HttpResponse<String> keep = call("POST", "/keep-ratio", TOKEN, "{\"keep_ratio\": 0.6}");
                assertThat(keep.statusCode()).isEqualTo(200);
                assertThat(json(keep).get("keep_ratio").asDouble()).isEqualTo(0.6);
                assertThat(controller.control()).isEqualTo(ControlMessage.active("v1", 0.6));
                Decision audit = controller.decisions().get(controller.decisions().size() - 1);
                assertThat(audit.rule()).isEqualTo(Rule.ADMIN);
                assertThat(audit.actor()).matches("token:[0-9a-f]{8}@127\\.0\\.0\\.1");
                assertThat(audit.reason()).startsWith("keep ratio 0.90 -> 0.60");

                assertThat(call("PUT", "/policy", TOKEN, "{\"slo_ms\": 120}").statusCode()).isEqualTo(200);
                assertThat(controller.policy().sloMs()).isEqualTo(120);

                HttpResponse<String> back = call("POST", "/rollback", TOKEN, null);
                assertThat(back.statusCode()).isEqualTo(200);
                assertThat(controller.control()).isEqualTo(ControlMessage.active("v0", 0.6));
                HttpResponse<String> noParent = call("POST", "/rollback", TOKEN, null);
                assertThat(noParent.statusCode()).isEqualTo(409);
                assertThat(json(noParent).get("error").asText()).contains("v0 has no published parent");
                assertThat(call("POST", "/activate/v1", TOKEN, null).statusCode()).isEqualTo(200);
                assertThat(controller.control()).isEqualTo(ControlMessage.active("v1", 0.6));

                // One prune at a time: the second is refused while the first runs.
                HttpResponse<String> first = call("POST", "/prune", TOKEN, "{\"target_flops_ratio\": 0.6}");
                assertThat(first.statusCode()).as(first.body()).isEqualTo(202);
                assertThat(json(first).get("parent_version").asText()).isEqualTo("v1");
                HttpResponse<String> second = call("POST", "/prune", TOKEN, "{\"target_flops_ratio\": 0.5}");
                assertThat(second.statusCode()).isEqualTo(409);
                assertThat(json(second).get("error").asText()).contains("is running; one job at a time");
                Awaitility.await("the job in its saliency phase").atMost(Duration.ofSeconds(60))
                        .until(() -> "saliency".equals(controller.job().phase()));
                JsonNode running = json(call("GET", "/status", TOKEN, null)).get("job");
                assertThat(running.get("state").asText()).isEqualTo("running");
                assertThat(running.get("progress").asDouble()).isEqualTo(0.25);
                assertThat(call("GET", "/metrics", null, null).body()).contains("controller_job_running 1.0",
                        "controller_job_progress 0.25");
                release.countDown();
                Awaitility.await("the job ended").atMost(Duration.ofSeconds(60)).until(() -> !controller.job().running());
                assertThat(controller.job().state()).isEqualTo("failed");

                List<String> audited = controller.decisions().stream().filter(d -> d.rule() == Rule.ADMIN)
                        .map(d -> d.action().id()).toList();
                assertThat(audited).containsExactly("set_keep_ratio", "set_policy", "rollback_to_parent", "activate",
                        "start_prune");
                assertThat(json(call("GET", "/decisions", TOKEN, null)).findValuesAsText("action"))
                        .containsSubsequence("set_keep_ratio", "set_policy", "rollback_to_parent", "activate",
                                "start_prune", "prune_failed");
                assertThat(call("GET", "/metrics", null, null).body())
                        .contains("controller_decisions_total{rule=\"admin\"} 5.0",
                                "controller_job_duration_seconds_count{outcome=\"failed\"} 1");
            } finally {
                release.countDown();
            }

            // A restarted controller re-plans from its topics: the policy as last set, the decisions, the cool-downs
            // (the operator's keep-ratio change) and what happened to each version; vit.control as it was left.
            try (Controller again = Controller.start(config, c -> () -> NO_METRICS, blocking, registry(),
                    Clock.systemUTC())) {
                assertThat(again.policy().sloMs()).isEqualTo(120);
                assertThat(again.control()).isEqualTo(ControlMessage.active("v1", 0.6));
                assertThat(again.decisions()).extracting(d -> d.action().id()).containsSubsequence("set_keep_ratio",
                        "set_policy", "rollback_to_parent", "activate", "start_prune", "prune_failed");
                assertThat(again.versions()).filteredOn(v -> v.version().equals("v1")).singleElement()
                        .satisfies(v -> assertThat(v.status()).isEqualTo("active"));
                port = again.adminPort();
                assertThat(call("GET", "/status", null, null).statusCode()).isEqualTo(401);
                assertThat(json(call("GET", "/status", TOKEN, null)).get("keep_ratio").asDouble()).isEqualTo(0.6);
            }
        }
    }

    /**
     * Adaptive mode through the API: the controller writes the bounds and SLO at start (audited), bad bounds get 400
     * naming the field with nothing changed, good ones reach vit.control, a pinned ratio switches to fixed mode and
     * {@code POST /keep-bounds} back; a newer instance on the same application id fences this one, which then says so.
     */
    @Test
    void keepBoundsAreValidatedAuditedAndFencedByANewerInstance() throws Exception {
        KeyPair keys = ModelSigning.generate();
        ModelSigning.writeKeyPair(keys, tmp.resolve("keys"));
        try (TestBroker broker = TestBroker.start(1)) {
            TestModels.publish(broker, TestModels.tiny(tmp, "v0", null, 1), keys);
            TestModels.publish(broker, TestModels.tiny(tmp, "v1", "v0", 2), keys);
            TestModels.activate(broker, "v1", 0.9);
            Map<String, String> s = TestControllers.settings(broker, TOKEN, tmp.resolve("keys"), tmp.resolve("work"));
            s.put("policy.slo.ms", "200");
            ControllerConfig config = ControllerConfig.parse(s);
            PrometheusMeterRegistry registry = registry();
            try (Controller controller = Controller.start(config, c -> () -> NO_METRICS, PruneRunner.DEFAULT,
                    registry, Clock.systemUTC())) {
                port = controller.adminPort();
                ControlMessage adaptive = ControlMessage.active("v1", 0.9).withBounds(0.5, 1.0, 200);
                assertThat(controller.control()).isEqualTo(adaptive);
                assertThat(controller.decisions()).singleElement().satisfies(d -> {
                    assertThat(d.action().id()).isEqualTo("align_control");
                    assertThat(d.actor()).isEqualTo("startup");
                    assertThat(d.reason()).endsWith("fixed keep ratio 0.90 -> keep ratio within [0.50, 1.00] chosen"
                            + " by the workers for p95 200 ms");
                });
                JsonNode status = json(call("GET", "/status", TOKEN, null));
                assertThat(status.get("keep_mode").asText()).isEqualTo("adaptive");
                assertThat(status.get("keep_floor").asDouble()).isEqualTo(0.5);
                assertThat(status.get("keep_ceiling").asDouble()).isEqualTo(1.0);
                assertThat(status.get("load").get("workers").asInt()).isZero();
                assertThat(call("GET", "/metrics", null, null).body()).contains("controller_keep_floor 0.5",
                        "controller_keep_ceiling 1.0", "controller_arrival_rate 0.0");
                assertThat(call("POST", "/keep-bounds", null, "{\"keep_floor\": 0.6}").statusCode()).isEqualTo(401);

                // Bad bounds: 400 naming the field, nothing changed.
                Map<String, String> bad = new LinkedHashMap<>();
                bad.put("{\"keep_floor\": 0.8, \"keep_ceiling\": 0.6}",
                        "keep_floor (0.8) must not exceed keep_ceiling (0.6)");
                bad.put("{\"keep_ceiling\": 0.4}", "keep_floor (0.5) must not exceed keep_ceiling (0.4)");
                bad.put("{\"keep_floor\": 0}", "keep_floor must be in (0, 1], got 0.0");
                bad.put("{\"keep_ceiling\": 1.5}", "keep_ceiling must be in (0, 1], got 1.5");
                bad.put("{\"keep_floor\": \"NaN\"}", "keep_floor must be a number in (0, 1], got \"NaN\"");
                bad.put("{\"keep_floor\": null}", "keep_floor must be a number in (0, 1], got null");
                bad.put("{\"floor\": 0.5}", "unknown field floor (expected keep_floor, keep_ceiling)");
                bad.put("{}", "keep_floor or keep_ceiling (numbers in (0, 1]) is required");
                for (Map.Entry<String, String> e : bad.entrySet()) {
                    HttpResponse<String> r = call("POST", "/keep-bounds", TOKEN, e.getKey());
                    assertThat(r.statusCode()).as(e.getKey()).isEqualTo(400);
                    assertThat(json(r).get("error").asText()).as(e.getKey()).isEqualTo(e.getValue());
                }
                Map<String, String> badPolicy = Map.of(
                        "{\"keep_ceiling\": 0.4}", "invalid policy: keep_floor (0.5) must not exceed keep_ceiling (0.4)",
                        "{\"keep_floor\": \"NaN\"}", "invalid policy: keep_floor must be a number, got \"NaN\"",
                        "{\"keep_mode\": \"auto\"}", "invalid policy: keep_mode must be adaptive or fixed, got \"auto\"");
                for (Map.Entry<String, String> e : badPolicy.entrySet()) {
                    HttpResponse<String> r = call("PUT", "/policy", TOKEN, e.getKey());
                    assertThat(r.statusCode()).as(e.getKey()).isEqualTo(400);
                    assertThat(json(r).get("error").asText()).as(e.getKey()).isEqualTo(e.getValue());
                }
                assertThat(call("POST", "/keep-bounds", TOKEN, "{\"keep_floor\": NaN}").statusCode()).isEqualTo(400);
                assertThat(controller.control()).isEqualTo(adaptive);
                assertThat(controller.policy().keepFloor()).isEqualTo(0.5);
                assertThat(controller.decisions()).hasSize(1);

                // Good bounds reach vit.control, audited with who.
                HttpResponse<String> ok = call("POST", "/keep-bounds", TOKEN, "{\"keep_floor\": 0.6,"
                        + " \"keep_ceiling\": 0.9}");
                assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
                assertThat(json(ok).get("keep_floor").asDouble()).isEqualTo(0.6);
                assertThat(json(ok).get("slo_ms").asDouble()).isEqualTo(200);
                assertThat(controller.control()).isEqualTo(ControlMessage.active("v1", 0.9).withBounds(0.6, 0.9, 200));
                Decision set = controller.decisions().get(1);
                assertThat(set.action().id()).isEqualTo("set_keep_bounds");
                assertThat(set.actor()).matches("token:[0-9a-f]{8}@127\\.0\\.0\\.1");

                // A pinned ratio: fixed mode, kept through a policy change; the bounds endpoint hands it back.
                assertThat(call("POST", "/keep-ratio", TOKEN, "{\"keep_ratio\": 0.7}").statusCode()).isEqualTo(200);
                assertThat(controller.control()).isEqualTo(ControlMessage.active("v1", 0.7));
                assertThat(json(call("GET", "/policy", TOKEN, null)).get("keep_mode").asText()).isEqualTo("fixed");
                assertThat(controller.decisions().get(2).reason()).contains("pinned by the operator",
                        "keep_mode adaptive -> fixed");
                assertThat(call("PUT", "/policy", TOKEN, "{\"slo_ms\": 150}").statusCode()).isEqualTo(200);
                assertThat(controller.control()).isEqualTo(ControlMessage.active("v1", 0.7));
                assertThat(call("POST", "/keep-bounds", TOKEN, "{\"keep_ceiling\": 1.0}").statusCode())
                        .isEqualTo(200);
                assertThat(controller.control()).isEqualTo(ControlMessage.active("v1", 1.0)
                        .withBounds(0.6, 1.0, 150));
                // An operator rollback carries the bounds along.
                assertThat(call("POST", "/rollback", TOKEN, null).statusCode()).isEqualTo(200);
                ControlMessage before = ControlMessage.active("v0", 1.0).withBounds(0.6, 1.0, 150);
                assertThat(controller.control()).isEqualTo(before);

                // A newer instance of the same controller claims the transactional id: this one stops writing.
                try (ClusterFollower other = new ClusterFollower(config.clientSettings());
                        KafkaControlPlane newer = KafkaControlPlane.open(config.clientSettings(),
                                config.applicationId(), other, Duration.ofSeconds(30), 15_000, Clock.systemUTC())) {
                    HttpResponse<String> fenced = call("POST", "/keep-ratio", TOKEN, "{\"keep_ratio\": 0.5}");
                    assertThat(fenced.statusCode()).isEqualTo(500);
                    assertThat(json(fenced).get("error").asText()).contains("another controller instance claimed"
                            + " transactional id vitstream-controller-control");
                    HttpResponse<String> health = call("GET", "/health", null, null);
                    assertThat(health.statusCode()).isEqualTo(503);
                    assertThat(json(health).get("control_problem").asText()).contains("no longer writes vit.control");
                    assertThat(controller.control()).isEqualTo(before);
                    assertThat(newer.problem()).isNull();
                }
            }
        }
    }

    private static PrometheusMeterRegistry registry() {
        return new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    }

    @Test
    void refusesToStartWithoutATokenUnlessExplicitlyInsecure() {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("bootstrap.servers", "127.0.0.1:9");
        assertThatThrownBy(() -> ControllerConfig.parse(s)).isInstanceOf(UserError.class)
                .hasMessageContaining("admin.token is required")
                .hasMessageContaining("admin.insecure=true");
        s.put("admin.insecure", "true");
        assertThat(ControllerConfig.parse(s).adminToken()).isNull();
        s.put("admin.token", "short");
        assertThatThrownBy(() -> ControllerConfig.parse(s)).hasMessageContaining("at least 16 characters");
        s.remove("admin.token");
        s.put("policy.slo.ms", "-1");
        s.put("bogus", "1");
        assertThatThrownBy(() -> ControllerConfig.parse(s)).hasMessage("invalid controller configuration: invalid"
                + " policy: slo_ms must be > 0, got -1.0; unknown setting bogus");
    }
}
