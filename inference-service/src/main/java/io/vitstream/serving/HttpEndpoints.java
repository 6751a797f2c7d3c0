package io.vitstream.serving;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vitstream.util.Json;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * {@code /metrics} (Prometheus text), {@code /health} (the worker's status; 200 while it is live, 503 once its model
 * follower has died, so that an orchestrator restarts it) and
 * {@code /ready} (200 once a model is loaded and warm, 503 before).
 *
 * <p>The JDK's built-in HttpServer rather than Javalin: three read-only GET endpoints need no routing, JSON body
 * parsing or middleware, and the worker image stays free of Jetty. The controller's admin REST API, which does need
 * those, uses Javalin.
 */
public final class HttpEndpoints implements AutoCloseable {
    private final HttpServer server;
    private final ExecutorService pool;

    private HttpEndpoints(HttpServer server, ExecutorService pool) {
        this.server = server;
        this.pool = pool;
    }

    /** Starts serving on {@code port} (0: any free port) on all interfaces, so Prometheus can scrape it. */
    public static HttpEndpoints start(int port, PrometheusMeterRegistry registry, InferenceWorker worker)
            throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(port), 0);
        server.createContext("/metrics", ex -> respond(ex, 200, "text/plain; version=0.0.4; charset=utf-8",
                registry.scrape()));
        server.createContext("/health", ex -> {
            var status = worker.status();
            respond(ex, ModelFollower.UNHEALTHY.equals(status.health()) ? 503 : 200, "application/json",
                    Json.MAPPER.writeValueAsString(status));
        });
        server.createContext("/ready", ex -> {
            boolean ready = worker.ready();
            respond(ex, ready ? 200 : 503, "application/json",
                    Json.MAPPER.writeValueAsString(Map.of("ready", ready)));
        });
        ExecutorService pool = Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "http-" + worker.workerId());
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(pool);
        server.start();
        return new HttpEndpoints(server, pool);
    }

    public int port() {
        return server.getAddress().getPort();
    }

    private static void respond(HttpExchange ex, int status, String type, String body) throws IOException {
        try (ex) {
            if (!ex.getRequestMethod().equals("GET") && !ex.getRequestMethod().equals("HEAD")) {
                ex.sendResponseHeaders(405, -1);
                return;
            }
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", type);
            ex.sendResponseHeaders(status, bytes.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    @Override
    public void close() {
        server.stop(0);
        pool.shutdownNow(); // the server does not own the executor it was given: its threads would outlive it
    }
}
