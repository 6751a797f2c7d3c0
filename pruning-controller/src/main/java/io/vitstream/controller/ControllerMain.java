package io.vitstream.controller;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vitstream.controller.job.PruneRunner;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Wires a controller: config, registry, the Streams metrics, the prune job, one shutdown hook. */
public final class ControllerMain {
    private static final Logger log = LoggerFactory.getLogger(ControllerMain.class);

    private ControllerMain() {}

    /** Runs a controller until the JVM is asked to stop (Ctrl-C, SIGTERM), then shuts it down cleanly. */
    public static void run(Path propertiesFile, Map<String, String> explicit) throws InterruptedException {
        ControllerConfig config = ControllerConfig.load(propertiesFile, explicit);
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        registry.config().commonTags("service", "controller");
        Controller controller = Controller.start(config, Controller::streams, PruneRunner.DEFAULT, registry,
                Clock.systemUTC());
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            controller.close();
            stopped.countDown();
        }, "controller-shutdown"));
        if (config.insecure()) {
            log.warn("the admin API runs WITHOUT authentication (admin.insecure=true)");
        }
        System.err.printf("controller started: admin API http://%s:%d (bearer token %s), metrics at /metrics,"
                + " bootstrap %s%n", config.adminHost(), controller.adminPort(),
                config.insecure() ? "NOT required: insecure" : "required", config.bootstrapServers());
        stopped.await();
    }

    public static void main(String[] args) throws Exception {
        run(args.length > 0 ? Path.of(args[0]) : null, Map.of());
    }
}
