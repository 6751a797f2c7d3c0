package io.vitstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vitstream.cli.GrafanaDashboards.Kind;
import io.vitstream.cli.GrafanaDashboards.Query;
import io.vitstream.controller.Controller;
import io.vitstream.data.FashionMnist;
import io.vitstream.data.LabeledImages;
import io.vitstream.kafka.Topics;
import io.vitstream.testing.TestData;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Grafana dashboards against real parts: the committed dashboard JSON and provisioning files, and every PromQL
 * expression of every panel, annotation and template variable run through Debian's real Prometheus, which scrapes a
 * real worker (embedded KRaft broker, {@code models/sparse}, dense-teacher sampling, labelled Fashion-MNIST traffic
 * and malformed inputs) and the real controller (which re-prunes and rolls out a version during the test) with
 * {@code dashboards/prometheus.yml} and its recording rules. No Docker, no Grafana.
 */
@Tag("integration")
class DashboardsPrometheusTest {
    private static final Path ROOT = TestData.repoRoot();
    private static final Path DASHBOARDS = ROOT.resolve("dashboards");
    private static final Map<String, String> DATASOURCE_REF = Map.of("type", "prometheus", "uid", "${datasource}");

    @TempDir
    Path tmp;

    @Test
    void dashboardsAreValidAndUseTheProvisionedDatasource() {
        GrafanaDashboards g = GrafanaDashboards.load(DASHBOARDS);
        assertThat(g.dashboards).isNotEmpty();
        JsonNode datasources = g.datasourceProvisioning.path("datasources");
        assertThat(datasources).hasSize(1);
        JsonNode ds = datasources.get(0);
        assertThat(ds.path("type").asText()).isEqualTo("prometheus");
        assertThat(ds.path("uid").asText()).isNotBlank();

        Set<String> uids = new HashSet<>();
        for (Map.Entry<String, JsonNode> e : g.dashboards.entrySet()) {
            String file = e.getKey();
            JsonNode d = e.getValue();
            assertThat(uids.add(d.path("uid").asText())).as(file + ": unique uid").isTrue();
            assertThat(d.path("title").asText()).as(file).isNotBlank();
            // Classic dashboard JSON of current Grafana (12.x: schema 41); Grafana migrates older ones on load.
            assertThat(d.path("schemaVersion").asInt()).as(file + " schemaVersion").isGreaterThanOrEqualTo(39);
            assertThat(d.has("id") && !d.path("id").isNull()).as(file + ": no instance-specific id").isFalse();

            Map<String, JsonNode> vars = new LinkedHashMap<>();
            d.path("templating").path("list").forEach(v -> vars.put(v.path("name").asText(), v));
            JsonNode dsVar = vars.get("datasource");
            assertThat(dsVar).as(file + ": ${datasource} variable").isNotNull();
            assertThat(dsVar.path("type").asText()).isEqualTo("datasource");
            // Resolves to the provisioned datasource: same plugin type, and it is the default selection.
            assertThat(dsVar.path("query").asText()).isEqualTo(ds.path("type").asText());
            assertThat(dsVar.path("current").path("value").asText()).isIn(ds.path("uid").asText(),
                    ds.path("name").asText());
            JsonNode version = vars.get("version");
            assertThat(version).as(file + ": version variable").isNotNull();
            assertThat(version.path("type").asText()).isEqualTo("query");

            Set<Integer> ids = new HashSet<>();
            for (JsonNode p : GrafanaDashboards.allPanels(d)) {
                String title = file + " panel \"" + p.path("title").asText() + "\"";
                assertThat(ids.add(p.path("id").asInt())).as(title + ": unique id").isTrue();
                JsonNode grid = p.path("gridPos");
                assertThat(grid.path("w").asInt()).as(title + " width").isBetween(1, 24);
                assertThat(grid.path("x").asInt() + grid.path("w").asInt()).as(title + " x + w")
                        .isLessThanOrEqualTo(24);
                assertThat(grid.path("h").asInt()).as(title + " height").isPositive();
                if (p.path("type").asText().equals("row")) {
                    continue;
                }
                assertThat(p.path("type").asText()).as(title + " type")
                        .isIn("timeseries", "stat", "state-timeline", "table", "bargauge", "gauge");
                assertThat(p.path("targets")).as(title + " targets").isNotEmpty();
                Set<String> refIds = new HashSet<>();
                for (JsonNode t : p.path("targets")) {
                    assertThat(refIds.add(t.path("refId").asText())).as(title + ": unique refId").isTrue();
                    assertThat(t.path("expr").asText()).as(title + " expr").isNotBlank();
                }
            }
            // Every datasource reference anywhere (panels, targets, annotations, variables) is the variable.
            Map<String, JsonNode> refs = new LinkedHashMap<>();
            collectDatasourceRefs(d, "", refs);
            JsonNode expected = GrafanaDashboards.JSON.valueToTree(DATASOURCE_REF);
            assertThat(refs).as(file + ": datasource references").isNotEmpty();
            refs.forEach((path, ref) -> assertThat(ref).as(file + " " + path).isEqualTo(expected));
        }
        // Every expression's variables are defined (resolve() throws on an unknown one).
        for (Query q : g.queries()) {
            assertThat(g.resolve(q)).as(q.label()).doesNotContain("$");
        }
    }

    /** path -> value of every "datasource" field in the dashboard. */
    private static void collectDatasourceRefs(JsonNode node, String path, Map<String, JsonNode> out) {
        if (node.isObject()) {
            node.fields().forEachRemaining(e -> {
                String p = path + "/" + e.getKey();
                if (e.getKey().equals("datasource")) {
                    out.put(p, e.getValue());
                } else {
                    collectDatasourceRefs(e.getValue(), p, out);
                }
            });
        } else if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                collectDatasourceRefs(node.get(i), path + "/" + i, out);
            }
        }
    }

    @Test
    void prometheusConfigAndRecordingRulesPassPromtool() throws Exception {
        Path promtool = PrometheusServer.tool("promtool");
        Process p = new ProcessBuilder(promtool.toString(), "check", "config", "prometheus.yml")
                .directory(DASHBOARDS.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(out).isZero();
        assertThat(out).contains("SUCCESS").contains("rule files found");
    }

    @Test
    void everyDashboardQueryReturnsDataFromARealPrometheus() throws Exception {
        PrometheusServer.tool("prometheus"); // fail fast, before the broker starts, when it is not installed
        GrafanaDashboards g = GrafanaDashboards.load(DASHBOARDS);
        LabeledImages images = FashionMnist.load(TestData.fashionMnist(), FashionMnist.Split.TEST);
        long startSeconds = System.currentTimeMillis() / 1000;
        // The worker scores a share of inputs with the dense teacher too: the agreement panel needs it.
        Map<String, String> worker = Map.of("teacher.model.dir", ROOT.resolve("models/base").toString(),
                "teacher.sample.share", "0.25");
        try (LocalServing local = LocalServing.start(ROOT.resolve("models/sparse"), 0.7, 16, worker, b -> { });
                Traffic traffic = new Traffic(local.producer(), images)) {
            Controller controller = local.startController(CONTROLLER); // closed by LocalServing
            Path config = localConfig(Map.of(
                    "vitstream-worker", List.of("127.0.0.1:" + local.http.port()),
                    "vitstream-controller", List.of("127.0.0.1:" + controller.adminPort())));
            try (PrometheusServer prometheus = PrometheusServer.start(config, tmp)) {
                // An operator's re-prune through the admin API: the job, its history, the rollout of the new
                // version (canary, then promoted or rolled back) and the decisions all reach the dashboards.
                HttpResponse<String> prune = admin(local, controller, "POST", "/prune",
                        "{\"target_flops_ratio\": 0.9}");
                assertThat(prune.statusCode()).as(prune.body()).isBetween(200, 299);

                List<Query> queries = g.queries();
                Map<String, String> failing = new LinkedHashMap<>();
                // Generous: the prune job (saliency, two passes over the test set) shares two cores with the rest.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(600);
                do {
                    Thread.sleep(2000);
                    failing.clear();
                    for (Query q : queries) {
                        String problem = check(prometheus, g, q, startSeconds);
                        if (problem != null) {
                            failing.put(q.label() + ": " + q.expr(), problem);
                        }
                    }
                    // The job's version went through a rollout: more than the idle state present from the start.
                    if (prometheus.query(ROLLOUT_LEFT_IDLE).path("result").isEmpty()) {
                        failing.put("rollout of the re-pruned version", "not seen yet: " + ROLLOUT_LEFT_IDLE);
                    }
                } while (!failing.isEmpty() && System.nanoTime() < deadline);

                assertThat(prometheus.targetHealth()).containsEntry("vitstream-worker", List.of("up"))
                        .containsEntry("vitstream-controller", List.of("up"));
                assertThat(traffic.sent()).isPositive();
                assertThat(failing).as("dashboard queries without data (controller status: %s; Prometheus log:\n%s)",
                        admin(local, controller, "GET", "/status", null).body(), prometheus.logText()).isEmpty();
                assertThat(queries).as("queries checked").hasSizeGreaterThan(40);
                assertThat(queries).filteredOn(Query::usesController).hasSizeGreaterThan(15);
                JsonNode rollout = prometheus.query(ROLLOUT_LEFT_IDLE).path("result");
                System.out.printf("dashboard queries with data: %d (%d of the controller); rollout states seen: %s;"
                        + " decisions: %s%n", queries.size(), queries.stream().filter(Query::usesController).count(),
                        rollout.findValuesAsText("state"), admin(local, controller, "GET", "/decisions", null).body());
            }
        }
    }

    private static final String ROLLOUT_LEFT_IDLE = "max_over_time(controller_rollout_state{state!=\"idle\"}[1h]) == 1";

    /**
     * Controller settings on top of {@link LocalServing#startController}'s: a prune here is small (no fine-tune, few
     * calibration and validation images) and its version is published even if its accuracy drops (low floor).
     */
    private static final Map<String, String> CONTROLLER = Map.of(
            "prune.calibration.images", "128",
            "prune.validation.images", "256",
            "prune.epochs", "0",
            "policy.accuracy.floor", "0.3",
            "policy.canary.samples", "20");

    /** A call to the controller's admin API with the token {@link LocalServing#startController} generated. */
    private static HttpResponse<String> admin(LocalServing local, Controller controller, String method, String path,
            String body) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + controller.adminPort() + path))
                .timeout(Duration.ofSeconds(60)).header("Authorization", "Bearer " + local.adminToken)
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        return HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Null when the query returns at least one series with a finite value; else what is wrong. */
    private static String check(PrometheusServer prometheus, GrafanaDashboards g, Query q, long startSeconds)
            throws IOException, InterruptedException {
        String expr = g.resolve(q);
        try {
            if (q.kind() == Kind.VARIABLE) {
                String[] mv = GrafanaDashboards.labelValues(expr);
                List<String> values = prometheus.labelValues(mv[1], mv[0]);
                return values.isEmpty() ? "no label values" : null;
            }
            JsonNode result = q.kind() == Kind.ANNOTATION
                    ? prometheus.queryRange(expr, startSeconds, System.currentTimeMillis() / 1000, 1).path("result")
                    : prometheus.query(expr).path("result");
            if (!result.isArray() || result.isEmpty()) {
                return "no series";
            }
            for (JsonNode series : result) {
                List<JsonNode> samples = new ArrayList<>();
                if (series.has("value")) {
                    samples.add(series.path("value"));
                }
                series.path("values").forEach(samples::add);
                for (JsonNode s : samples) {
                    double v = Double.parseDouble(s.get(1).asText());
                    if (Double.isFinite(v)) {
                        return null;
                    }
                }
            }
            return "only NaN/Inf values: " + result;
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
    }

    /**
     * {@code dashboards/prometheus.yml} adapted to this machine: the same jobs, rule files (copied verbatim, same
     * relative paths) and metrics paths; targets replaced by the local ports; a 1 s scrape and rule interval so that
     * the test does not wait for 15 s ones. Jobs without a local target are left out.
     */
    private Path localConfig(Map<String, List<String>> targets) throws IOException {
        ObjectNode config = (ObjectNode) GrafanaDashboards.YAML.readTree(DASHBOARDS.resolve("prometheus.yml").toFile());
        ObjectNode global = (ObjectNode) config.path("global");
        global.put("scrape_interval", "1s");
        global.put("evaluation_interval", "1s");
        Path dir = tmp.resolve("config");
        for (JsonNode rf : config.path("rule_files")) {
            Path target = dir.resolve(rf.asText());
            Files.createDirectories(target.getParent());
            Files.copy(DASHBOARDS.resolve(rf.asText()), target);
        }
        ArrayNode jobs = (ArrayNode) config.path("scrape_configs");
        Set<String> names = new HashSet<>();
        for (int i = jobs.size() - 1; i >= 0; i--) {
            ObjectNode job = (ObjectNode) jobs.get(i);
            String name = job.path("job_name").asText();
            names.add(name);
            List<String> local = targets.get(name);
            if (local == null) {
                jobs.remove(i);
                continue;
            }
            ArrayNode t = GrafanaDashboards.JSON.createArrayNode();
            local.forEach(t::add);
            ArrayNode staticConfigs = job.putArray("static_configs");
            staticConfigs.addObject().set("targets", t);
        }
        assertThat(names).as("jobs of dashboards/prometheus.yml").containsAll(targets.keySet())
                .contains("vitstream-worker", "vitstream-controller");
        Path file = dir.resolve("prometheus.yml");
        Files.createDirectories(dir);
        GrafanaDashboards.YAML.writeValue(file.toFile(), config);
        return file;
    }

    /**
     * Labelled Fashion-MNIST PNGs at about 25 images/s, and a malformed input now and then, until closed: the
     * dashboards' rates need traffic while Prometheus scrapes.
     */
    private static final class Traffic implements AutoCloseable {
        private final KafkaProducer<String, byte[]> producer;
        private final Thread thread;
        private volatile boolean stop;
        private volatile int sent;

        Traffic(KafkaProducer<String, byte[]> producer, LabeledImages images) {
            this.producer = producer;
            this.thread = new Thread(() -> {
                int i = 0;
                while (!stop) {
                    int idx = i % images.count();
                    RecordHeaders h = new RecordHeaders();
                    h.add(Topics.HEADER_LABEL,
                            String.valueOf(images.labels()[idx]).getBytes(StandardCharsets.US_ASCII));
                    producer.send(new ProducerRecord<>(Topics.IMAGES, null, "dash-" + i,
                            images.png(idx), h));
                    if (i % 50 == 25) {
                        producer.send(new ProducerRecord<>(Topics.IMAGES, "dash-bad-" + i,
                                "not an image".getBytes(StandardCharsets.UTF_8)));
                    }
                    sent = ++i;
                    try {
                        Thread.sleep(40);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "dashboard-traffic");
            thread.setDaemon(true);
            thread.start();
        }

        int sent() {
            return sent;
        }

        @Override
        public void close() throws InterruptedException {
            stop = true;
            thread.join(5000);
            producer.close();
        }
    }
}
