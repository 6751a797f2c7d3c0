package io.vitstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.vitstream.kafka.Topics;
import io.vitstream.testing.TestData;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code docker-compose.yml} as Debian's {@code docker-compose} (v1) parses it with {@code docker-compose config},
 * which needs no Docker engine; a missing {@code docker-compose} fails the test (scripts/install-deps.sh installs it).
 * Then the normalised file is checked against the rest of the project: the topics against {@link Topics}, the
 * Prometheus and Grafana mounts against {@code dashboards/}, the scrape targets against the services.
 */
class DockerComposeTest {
    private static final Path ROOT = TestData.repoRoot();
    private static JsonNode compose;

    @BeforeAll
    static void parse() throws Exception {
        Path tool = PrometheusServer.tool("docker-compose");
        ProcessBuilder pb = new ProcessBuilder(tool.toString(), "-f", "docker-compose.yml", "config")
                .directory(ROOT.toFile());
        // Defaults of the file, not whatever this shell exports.
        pb.environment().keySet().removeIf(k -> k.startsWith("KAFKA_") || k.startsWith("COMPOSE_")
                || k.equals("TOPIC_PARTITIONS") || k.equals("CONTAINER_UID"));
        Path err = Files.createTempFile("compose", ".err");
        Process p = pb.redirectError(err.toFile()).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("docker-compose config: %s", Files.readString(err)).isZero();
        Files.delete(err);
        compose = GrafanaDashboards.YAML.readTree(out);
    }

    private static JsonNode service(String name) {
        JsonNode s = compose.path("services").path(name);
        assertThat(s.isMissingNode()).as("service " + name).isFalse();
        return s;
    }

    @Test
    void servicesHaveImagesHealthChecksAndRestartPolicies() throws Exception {
        assertThat(iterable(compose.path("services").fieldNames())).containsExactlyInAnyOrder("kafka", "kafka-init",
                "worker-1", "worker-2", "controller", "publish-model", "prometheus", "grafana");
        JsonNode kafka = service("kafka");
        assertThat(kafka.path("image").asText()).startsWith("apache/kafka:");
        assertThat(kafka.path("environment").path("KAFKA_PROCESS_ROLES").asText()).isEqualTo("broker,controller");
        assertThat(kafka.path("environment").path("KAFKA_AUTO_CREATE_TOPICS_ENABLE").asText()).isEqualTo("false");
        for (String name : List.of("kafka", "worker-1", "worker-2", "controller", "prometheus", "grafana")) {
            JsonNode s = service(name);
            assertThat(s.path("healthcheck").path("test").isEmpty()).as(name + " healthcheck").isFalse();
            assertThat(s.path("restart").asText()).as(name + " restart").isIn("unless-stopped", "always");
        }
        assertThat(service("kafka-init").path("restart").asText()).isEqualTo("on-failure");
        assertThat(service("publish-model").path("restart").asText()).isEqualTo("no");
        assertThat(service("publish-model").path("profiles")).extracting(JsonNode::asText).containsExactly("init");
        for (String name : List.of("worker-1", "worker-2", "controller", "publish-model")) {
            JsonNode s = service(name);
            assertThat(Path.of(s.path("build").path("context").asText()).resolve(s.path("build").path("dockerfile")
                    .asText())).as(name + " Dockerfile").isRegularFile();
            assertThat(s.path("depends_on").path("kafka-init").path("condition").asText())
                    .isEqualTo("service_completed_successfully");
        }
        assertThat(service("worker-1").path("environment").path("VITSTREAM_WORKER_ID").asText())
                .isNotEqualTo(service("worker-2").path("environment").path("VITSTREAM_WORKER_ID").asText());
    }

    @Test
    void projectServicesRunCommandsTheCliKnows() {
        for (String name : List.of("worker-1", "worker-2", "controller", "publish-model")) {
            String[] args = iterable(service(name).path("command").elements()).stream().map(JsonNode::asText)
                    .toArray(String[]::new);
            // Parsed by the real command line (subcommand, option names, arity), not run.
            assertThat(Main.commandLine().parseArgs(args).subcommand()).as(name + ": " + String.join(" ", args))
                    .isNotNull();
        }
    }

    @Test
    void secretsComeFromIgnoredFilesNeverFromTheComposeFile() throws Exception {
        JsonNode secrets = compose.path("secrets");
        assertThat(iterable(secrets.fieldNames())).contains("vitstream-signing-key", "vitstream-public-key",
                "vitstream-admin-token");
        Path secretsDir = ROOT.resolve("secrets");
        for (JsonNode s : secrets) {
            assertThat(Path.of(s.path("file").asText()).getParent()).isEqualTo(secretsDir);
        }
        assertThat(Files.readAllLines(ROOT.resolve(".gitignore"))).contains("/secrets/");
        assertThat(Files.readAllLines(ROOT.resolve(".dockerignore"))).contains("secrets/");
        assertThat(iterable(service("controller").path("command").elements()).stream().map(JsonNode::asText).toList())
                .containsSubsequence("--admin-token-file", "/run/secrets/vitstream-admin-token");
        // Any setting that names a secret points at a mounted secret file.
        compose.path("services").fields().forEachRemaining(svc -> svc.getValue().path("environment").fields()
                .forEachRemaining(e -> {
                    if (e.getKey().matches(".*(TOKEN|PASSWORD|PRIVATE_KEY|SECRET).*")) {
                        assertThat(e.getValue().asText()).as(svc.getKey() + " " + e.getKey())
                                .startsWith("/run/secrets/");
                    }
                }));
    }

    /** {@code create <topic> <partitions> [config=value ...]} lines of kafka-init's script. */
    private static final Pattern CREATE = Pattern.compile("^\\s*create (\\S+) (\\S+)((?: \\S+=\\S+)*)\\s*$",
            Pattern.MULTILINE);

    @Test
    void topicCreationMatchesTheContract() {
        JsonNode init = service("kafka-init");
        int partitions = init.path("environment").path("PARTITIONS").asInt();
        short replication = (short) init.path("environment").path("REPLICATION").asInt();
        assertThat(partitions).isPositive();
        String script = init.path("command").get(0).asText();
        Map<String, String> created = new TreeMap<>();
        Matcher m = CREATE.matcher(script);
        while (m.find()) {
            String p = m.group(2).equals("$$PARTITIONS") ? String.valueOf(partitions) : m.group(2);
            created.put(m.group(1), p + " " + new TreeMap<>(configs(m.group(3))));
        }
        Map<String, String> contract = new TreeMap<>();
        for (NewTopic t : Topics.definitions(partitions, replication)) {
            Map<String, String> configs = t.configs() == null ? Map.of() : t.configs();
            contract.put(t.name(), t.numPartitions() + " " + new TreeMap<>(configs));
        }
        assertThat(created).isEqualTo(contract);
    }

    private static Map<String, String> configs(String s) {
        Map<String, String> out = new HashMap<>();
        for (String kv : s.trim().split("\\s+")) {
            if (!kv.isEmpty()) {
                out.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
            }
        }
        return out;
    }

    @Test
    void prometheusGetsTheConfigAndRulesAndScrapesEveryService() throws Exception {
        Map<String, Path> mounts = binds(service("prometheus"));
        Path config = mounts.get("/etc/prometheus/prometheus.yml");
        assertThat(config).isEqualTo(ROOT.resolve("dashboards/prometheus.yml"));
        JsonNode prom = GrafanaDashboards.YAML.readTree(config.toFile());
        for (JsonNode rf : prom.path("rule_files")) {
            Path inContainer = Path.of("/etc/prometheus").resolve(rf.asText());
            assertThat(hostPath(mounts, inContainer)).as("rule file " + rf.asText()).isRegularFile();
        }
        Map<String, String> expected = new LinkedHashMap<>();
        expected.put("worker-1", service("worker-1").path("environment").path("VITSTREAM_HTTP_PORT").asText());
        expected.put("worker-2", service("worker-2").path("environment").path("VITSTREAM_HTTP_PORT").asText());
        expected.put("controller", service("controller").path("environment")
                .path("VITSTREAM_CONTROLLER_ADMIN_PORT").asText("9500"));
        List<String> targets = new ArrayList<>();
        for (JsonNode job : prom.path("scrape_configs")) {
            job.path("static_configs").forEach(sc -> sc.path("targets").forEach(t -> targets.add(t.asText())));
        }
        assertThat(targets).containsExactlyInAnyOrderElementsOf(expected.entrySet().stream()
                .map(e -> e.getKey() + ":" + e.getValue()).toList());
    }

    @Test
    void grafanaGetsTheProvisioningAndTheDashboards() throws Exception {
        Map<String, Path> mounts = binds(service("grafana"));
        assertThat(mounts.get("/etc/grafana/provisioning")).isEqualTo(ROOT.resolve("dashboards/grafana/provisioning"));
        GrafanaDashboards g = GrafanaDashboards.load(ROOT.resolve("dashboards"));
        for (JsonNode provider : g.dashboardProvisioning.path("providers")) {
            Path dir = hostPath(mounts, Path.of(provider.path("options").path("path").asText()));
            assertThat(dir).isEqualTo(ROOT.resolve("dashboards/grafana/dashboards"));
            for (String file : g.dashboards.keySet()) {
                assertThat(dir.resolve(file)).isRegularFile();
            }
        }
        String home = service("grafana").path("environment").path("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH").asText();
        assertThat(hostPath(mounts, Path.of(home))).isRegularFile();
        String url = g.datasourceProvisioning.path("datasources").get(0).path("url").asText();
        assertThat(url).isEqualTo("http://prometheus:9090");
    }

    /** Bind mounts of a service: container path -> host path. */
    private static Map<String, Path> binds(JsonNode service) {
        Map<String, Path> out = new LinkedHashMap<>();
        for (JsonNode v : service.path("volumes")) {
            String[] parts = v.asText().split(":");
            if (parts[0].startsWith("/")) {
                out.put(parts[1], Path.of(parts[0]));
            }
        }
        return out;
    }

    private static Path hostPath(Map<String, Path> mounts, Path inContainer) {
        for (Map.Entry<String, Path> e : mounts.entrySet()) {
            Path mount = Path.of(e.getKey());
            if (inContainer.startsWith(mount)) {
                return e.getValue().resolve(mount.relativize(inContainer).toString());
            }
        }
        throw new AssertionError(inContainer + " is not under any bind mount " + mounts.keySet());
    }

    private static <T> List<T> iterable(java.util.Iterator<T> it) {
        List<T> out = new ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }
}
