package io.vitstream.controller.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vitstream.controller.admin.AdminOps;
import io.vitstream.controller.admin.Views;
import io.vitstream.controller.error.ControllerException;
import io.vitstream.controller.job.JobStatus;
import io.vitstream.controller.policy.Decision;
import io.vitstream.controller.policy.PolicySettings;
import io.vitstream.util.Json;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The HTTP layer alone, on a fake {@link AdminOps} that records what it is asked: authentication (reads too, and
 * nothing reaches the service when it fails), body validation before the service is called, the mapping of the
 * service's refusals to 400 / 404 / 409 / 500, and the open endpoints. The whole controller behind the same API is
 * {@code io.vitstream.controller.AdminApiTest} (integration).
 */
class AdminApiHttpTest {
    private static final String TOKEN = "http-token-0123456789abcdef";

    private final HttpClient http = HttpClient.newHttpClient();
    private final List<String> calls = new ArrayList<>();
    private AdminServer server;
    private String healthStatus = "ok";

    /** Records each call; versions named "missing" are unknown, a second prune conflicts, keep 0.99 is a bug. */
    private final class FakeOps implements AdminOps {
        private boolean pruning;

        @Override
        public Views.Status status() {
            calls.add("status");
            return new Views.Status("t", "v1", null, null, 1.0, null, null, "fixed", "idle", true, 250, 10, Map.of(),
                    List.of(), null, null, null, null);
        }

        @Override
        public List<Views.Version> versions() {
            calls.add("versions");
            return List.of();
        }

        @Override
        public List<Decision> decisions() {
            calls.add("decisions");
            return List.of();
        }

        @Override
        public PolicySettings policy() {
            calls.add("policy");
            return PolicySettings.defaults();
        }

        @Override
        public PolicySettings setPolicy(JsonNode patch, String actor) {
            calls.add("setPolicy " + patch + " by " + actor);
            if (patch.has("window_s") && patch.get("window_s").asDouble() <= 0) {
                throw new IllegalArgumentException("window_s must be positive");
            }
            return PolicySettings.defaults();
        }

        @Override
        public JobStatus prune(double flopsRatio, String actor) {
            calls.add("prune " + flopsRatio);
            if (pruning) {
                throw ControllerException.conflict("a prune job is running; one job at a time");
            }
            pruning = true;
            return new JobStatus("job-1", "running", "v1", null, flopsRatio, "admin", "t", null, "saliency", 0.0, null,
                    null, null, null, null);
        }

        @Override
        public Views.Control activate(String version, String actor) {
            calls.add("activate " + version);
            if (version.equals("missing")) {
                throw ControllerException.notFound("unknown version missing");
            }
            return new Views.Control(version, 1.0, null, null, null, null, null);
        }

        @Override
        public Views.Control rollback(String actor) {
            calls.add("rollback");
            throw ControllerException.conflict("no parent to roll back to");
        }

        @Override
        public Views.Control setKeepRatio(double keepRatio, String actor) {
            calls.add("keep " + keepRatio);
            if (keepRatio == 0.99) {
                throw new IllegalStateException("a bug");
            }
            return new Views.Control("v1", keepRatio, null, null, keepRatio, keepRatio, null);
        }

        @Override
        public Views.Control setKeepBounds(Double keepFloor, Double keepCeiling, String actor) {
            calls.add("bounds " + keepFloor + " " + keepCeiling);
            return new Views.Control("v1", 1.0, null, null, keepFloor, keepCeiling, 250.0);
        }
    }

    @BeforeEach
    void start() {
        server = AdminServer.start(new FakeOps(), new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), TOKEN,
                () -> Map.of("status", healthStatus), "127.0.0.1", 0);
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private HttpResponse<String> call(String method, String path, String token, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .timeout(Duration.ofSeconds(20))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode json(HttpResponse<String> r) throws Exception {
        return Json.MAPPER.readTree(r.body());
    }

    @Test
    void everyAdminEndpointNeedsTheTokenAndNothingReachesTheServiceWithoutIt() throws Exception {
        String[][] endpoints = {{"GET", "/status"}, {"GET", "/versions"}, {"GET", "/decisions"}, {"GET", "/policy"},
            {"PUT", "/policy"}, {"POST", "/prune"}, {"POST", "/activate/v2"}, {"POST", "/rollback"},
            {"POST", "/keep-ratio"}, {"POST", "/keep-bounds"}};
        for (String[] e : endpoints) {
            HttpResponse<String> none = call(e[0], e[1], null, "{}");
            assertThat(none.statusCode()).as("%s %s without a token", e[0], e[1]).isEqualTo(401);
            assertThat(json(none).get("error").asText()).contains("missing bearer token");
            assertThat(none.headers().firstValue("WWW-Authenticate")).hasValueSatisfying(v -> assertThat(v)
                    .startsWith("Bearer"));
            HttpResponse<String> wrong = call(e[0], e[1], "not-the-token", "{}");
            assertThat(wrong.statusCode()).as("%s %s with a wrong token", e[0], e[1]).isEqualTo(401);
            assertThat(json(wrong).get("error").asText()).isEqualTo("wrong bearer token");
        }
        assertThat(calls).isEmpty();

        HttpResponse<String> status = call("GET", "/status", TOKEN, null);
        assertThat(status.statusCode()).isEqualTo(200);
        assertThat(json(status).get("active_version").asText()).isEqualTo("v1");
        assertThat(calls).containsExactly("status");
    }

    @Test
    void badBodiesAre400sNamingTheProblemBeforeTheServiceIsAsked() throws Exception {
        Object[][] cases = {
            {"POST", "/prune", "", "a JSON body is required"},
            {"POST", "/prune", "[1]", "the body must be a JSON object"},
            {"POST", "/prune", "{\"target_flops_ratio\": ", "malformed JSON"},
            {"POST", "/prune", "{\"ratio\": 0.5}", "unknown field ratio (expected target_flops_ratio)"},
            {"POST", "/prune", "{\"target_flops_ratio\": \"half\"}", "target_flops_ratio (a number in (0, 1)) is"
                    + " required, got \"half\""},
            {"POST", "/keep-ratio", "{}", "keep_ratio (a number in (0, 1]) is required"},
            {"POST", "/keep-bounds", "{\"keep_floor\": true}", "keep_floor must be a number in (0, 1], got true"},
            {"POST", "/activate/%20", null, "invalid version"},
        };
        for (Object[] c : cases) {
            HttpResponse<String> r = call((String) c[0], (String) c[1], TOKEN, (String) c[2]);
            assertThat(r.statusCode()).as("%s %s %s", c[0], c[1], c[2]).isEqualTo(400);
            assertThat(json(r).get("error").asText()).as("%s %s", c[1], c[2]).contains((String) c[3]);
            assertThat(json(r).get("status").asInt()).isEqualTo(400);
        }
        assertThat(calls).isEmpty();
    }

    @Test
    void theServicesRefusalsMapTo400404409And500() throws Exception {
        HttpResponse<String> invalid = call("PUT", "/policy", TOKEN, "{\"window_s\": -1}");
        assertThat(invalid.statusCode()).isEqualTo(400);
        assertThat(json(invalid).get("error").asText()).isEqualTo("window_s must be positive");

        assertThat(call("POST", "/activate/missing", TOKEN, null).statusCode()).isEqualTo(404);
        HttpResponse<String> ok = call("POST", "/activate/v2", TOKEN, null);
        assertThat(ok.statusCode()).isEqualTo(200);
        assertThat(json(ok).get("active_version").asText()).isEqualTo("v2");

        HttpResponse<String> accepted = call("POST", "/prune", TOKEN, "{\"target_flops_ratio\": 0.5}");
        assertThat(accepted.statusCode()).isEqualTo(202);
        assertThat(json(accepted).get("flops_ratio").asDouble()).isEqualTo(0.5);
        HttpResponse<String> second = call("POST", "/prune", TOKEN, "{\"target_flops_ratio\": 0.4}");
        assertThat(second.statusCode()).isEqualTo(409);
        assertThat(json(second).get("error").asText()).contains("one job at a time");
        assertThat(call("POST", "/rollback", TOKEN, null).statusCode()).isEqualTo(409);

        HttpResponse<String> bug = call("POST", "/keep-ratio", TOKEN, "{\"keep_ratio\": 0.99}");
        assertThat(bug.statusCode()).isEqualTo(500);
        assertThat(json(bug).get("error").asText()).isEqualTo("IllegalStateException: a bug");

        HttpResponse<String> bounds = call("POST", "/keep-bounds", TOKEN, "{\"keep_floor\": 0.5}");
        assertThat(bounds.statusCode()).isEqualTo(200);
        assertThat(json(bounds).get("keep_floor").asDouble()).isEqualTo(0.5);
        assertThat(calls).contains("bounds 0.5 null");
        assertThat(calls.stream().filter(c -> c.startsWith("setPolicy")).findFirst()).hasValueSatisfying(c ->
                assertThat(c).matches("setPolicy \\{\"window_s\":-1\\} by token:[0-9a-f]+@.+"));
    }

    @Test
    void healthAndMetricsAreOpenAndHealthSaysWhenItIsNotOk() throws Exception {
        HttpResponse<String> health = call("GET", "/health", null, null);
        assertThat(health.statusCode()).isEqualTo(200);
        assertThat(json(health).get("status").asText()).isEqualTo("ok");
        healthStatus = "degraded";
        assertThat(call("GET", "/health", null, null).statusCode()).isEqualTo(503);
        HttpResponse<String> metrics = call("GET", "/metrics", null, null);
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.headers().firstValue("Content-Type")).hasValueSatisfying(v -> assertThat(v)
                .startsWith("text/plain"));
        assertThat(calls).isEmpty();
    }
}
