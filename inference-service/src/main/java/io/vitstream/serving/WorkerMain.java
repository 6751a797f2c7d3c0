package io.vitstream.serving;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Wires a worker: config, registry with common tags, worker, HTTP endpoints, one shutdown hook. */
public final class WorkerMain {
    private static final Logger log = LoggerFactory.getLogger(WorkerMain.class);

    private WorkerMain() {}

    /** Runs a worker until the JVM is asked to stop (Ctrl-C, SIGTERM), then shuts it down cleanly. */
    public static void run(Path propertiesFile, Map<String, String> explicit) throws IOException, InterruptedException {
        WorkerConfig config = WorkerConfig.load(propertiesFile, explicit);
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        registry.config().commonTags("worker", config.workerId());
        InferenceWorker worker = InferenceWorker.create(config, registry);
        HttpEndpoints http = config.httpPort() >= 0 ? HttpEndpoints.start(config.httpPort(), registry, worker) : null;
        Thread loop = new Thread(worker, "inference-" + config.workerId());
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                worker.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (http != null) {
                http.close();
            }
        }, "worker-shutdown"));
        loop.start();
        log.info("worker {} consuming from {}{}", config.workerId(), config.bootstrapServers(),
                http == null ? "" : ", metrics on http://localhost:" + http.port() + "/metrics");
        System.err.printf("worker %s started (bootstrap %s%s)%n", config.workerId(), config.bootstrapServers(),
                http == null ? "" : ", http port " + http.port());
        loop.join();
    }

    public static void main(String[] args) throws Exception {
        run(args.length > 0 ? Path.of(args[0]) : null, Map.of());
    }
}
