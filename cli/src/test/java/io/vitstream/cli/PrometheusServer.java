package io.vitstream.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * Debian's real {@code prometheus} binary as a child process on a free 127.0.0.1 port, and its HTTP API. A missing
 * binary is an error, never a skip: {@code scripts/install-deps.sh} (the README's setup, {@code .ci/run}) installs it.
 */
final class PrometheusServer implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Process process;
    private final Path log;
    private final String base;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final Thread reaper;

    private PrometheusServer(Process process, Path log, int port) {
        this.process = process;
        this.log = log;
        this.base = "http://127.0.0.1:" + port;
        // Prometheus must not outlive a test JVM that is killed before close().
        this.reaper = new Thread(process::destroy, "prometheus-reaper");
        Runtime.getRuntime().addShutdownHook(reaper);
    }

    /** The named Debian tool ({@code prometheus}, {@code promtool}) on the PATH; fails with the fix if missing. */
    static Path tool(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, name);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        Path usual = Path.of("/usr/bin", name);
        if (Files.isExecutable(usual)) {
            return usual;
        }
        throw new IllegalStateException("`" + name + "` is not installed: run scripts/install-deps.sh (installs"
                + " Debian's `prometheus` package; the README's setup and .ci/run do)");
    }

    /** Starts Prometheus with {@code config} and its TSDB under {@code dir}, and waits until it is ready. */
    static PrometheusServer start(Path config, Path dir) throws IOException, InterruptedException {
        Path binary = tool("prometheus");
        int port;
        try (ServerSocket s = new ServerSocket(0, 0, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        Path log = dir.resolve("prometheus.log");
        Process p = new ProcessBuilder(binary.toString(), "--config.file=" + config,
                "--storage.tsdb.path=" + dir.resolve("tsdb"), "--web.listen-address=127.0.0.1:" + port,
                "--log.level=warn")
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        PrometheusServer server = new PrometheusServer(p, log, port);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            if (!p.isAlive()) {
                throw new IllegalStateException("prometheus exited with " + p.exitValue() + ":\n" + server.logText());
            }
            try {
                if (server.get("/-/ready").statusCode() == 200) {
                    return server;
                }
            } catch (IOException e) {
                // not listening yet
            }
            if (System.nanoTime() > deadline) {
                server.close();
                throw new IllegalStateException("prometheus not ready within 60 s:\n" + server.logText());
            }
            Thread.sleep(200);
        }
    }

    String logText() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    private HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** {@code data} of a successful API call; an error answer (bad PromQL ...) is an exception with its message. */
    private JsonNode api(String path, Map<String, String> form) throws IOException, InterruptedException {
        String body = form.entrySet().stream()
                .map(e -> e.getKey() + "=" + URLEncoder.encode(e.getValue(), StandardCharsets.UTF_8))
                .collect(Collectors.joining("&"));
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + path))
                .timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        JsonNode json = JSON.readTree(r.body());
        if (!"success".equals(json.path("status").asText())) {
            throw new IllegalArgumentException(path + " " + form + " -> HTTP " + r.statusCode() + ": "
                    + json.path("errorType").asText() + ": " + json.path("error").asText());
        }
        return json.path("data");
    }

    /** Instant query at now: {@code data.result} (vector or scalar). */
    JsonNode query(String expr) throws IOException, InterruptedException {
        return api("/api/v1/query", Map.of("query", expr));
    }

    /** Range query, as Grafana runs annotation queries: {@code data.result} (matrix). */
    JsonNode queryRange(String expr, long startSeconds, long endSeconds, int stepSeconds)
            throws IOException, InterruptedException {
        return api("/api/v1/query_range", Map.of("query", expr, "start", String.valueOf(startSeconds),
                "end", String.valueOf(endSeconds), "step", stepSeconds + "s"));
    }

    /** Values of {@code label} over the series matching {@code match}, as Grafana's label_values() asks. */
    List<String> labelValues(String label, String match) throws IOException, InterruptedException {
        String q = "?match%5B%5D=" + URLEncoder.encode(match, StandardCharsets.UTF_8);
        HttpResponse<String> r = get("/api/v1/label/" + label + "/values" + q);
        JsonNode json = JSON.readTree(r.body());
        if (!"success".equals(json.path("status").asText())) {
            throw new IllegalArgumentException("label values " + label + " " + match + ": " + r.body());
        }
        return java.util.stream.StreamSupport.stream(json.path("data").spliterator(), false)
                .map(JsonNode::asText).toList();
    }

    /** Scrape targets: job -> health of each target ("up", "down", "unknown"). */
    Map<String, List<String>> targetHealth() throws IOException, InterruptedException {
        JsonNode json = JSON.readTree(get("/api/v1/targets").body());
        return java.util.stream.StreamSupport.stream(json.path("data").path("activeTargets").spliterator(), false)
                .collect(Collectors.groupingBy(t -> t.path("labels").path("job").asText(),
                        Collectors.mapping(t -> t.path("health").asText(), Collectors.toList())));
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            process.destroyForcibly();
        }
        try {
            Runtime.getRuntime().removeShutdownHook(reaper);
        } catch (IllegalStateException e) {
            // the JVM is shutting down: the hook runs anyway
        }
    }
}
