package io.vitstream.controller.http;

import io.javalin.Javalin;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vitstream.controller.admin.AdminOps;
import java.util.Map;
import java.util.function.Supplier;

/** The admin API listening ({@link AdminApi}), as the controller's lifecycle sees it: started, its port, stopped. */
public final class AdminServer implements AutoCloseable {
    private final Javalin app;

    private AdminServer(Javalin app) {
        this.app = app;
    }

    /**
     * Builds the app ({@link AdminApi#create}) and starts it on {@code host}:{@code port} (0: any free port).
     *
     * @param token bearer token of the admin endpoints; null runs them without authentication
     */
    public static AdminServer start(AdminOps ops, PrometheusMeterRegistry registry, String token,
            Supplier<Map<String, Object>> health, String host, int port) {
        Javalin app = AdminApi.create(ops, registry, token, health);
        app.start(host, port);
        return new AdminServer(app);
    }

    /** The port it listens on. */
    public int port() {
        return app.port();
    }

    @Override
    public void close() {
        app.stop();
    }
}
