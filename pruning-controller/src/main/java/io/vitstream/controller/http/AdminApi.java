package io.vitstream.controller.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.json.JavalinJackson;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vitstream.controller.admin.AdminOps;
import io.vitstream.controller.error.ControllerException;
import io.vitstream.util.Json;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The controller's admin REST API (Javalin 7: routes, filters and exception mappers are configured up front). Every
 * endpoint needs {@code Authorization: Bearer <token>}, reads included, except {@code /metrics} (Prometheus scrape)
 * and {@code /health}. Handlers parse and validate, call {@link AdminOps}, write JSON (snake_case); errors map to
 * responses in one place: 400 bad input, 401 missing or wrong token, 404 unknown version, 409 conflict (a second
 * prune while one runs ...). Mutations are audited by {@link AdminOps} with the caller's identity: the token's
 * fingerprint and the remote address.
 */
public final class AdminApi {
    private static final Logger log = LoggerFactory.getLogger(AdminApi.class);
    private static final Set<String> OPEN = Set.of("/metrics", "/health");
    private static final String ACTOR = "vitstream.actor";

    private AdminApi() {}

    /** An error with its HTTP status, thrown by the handlers here. */
    static final class ApiError extends RuntimeException {
        final int status;

        ApiError(int status, String message) {
            super(message);
            this.status = status;
        }
    }

    /**
     * The app, not started ({@code start(host, port)}).
     *
     * @param token bearer token required by every admin endpoint; null runs them without authentication (the
     *     controller only allows that when told explicitly)
     * @param health body of {@code GET /health}
     */
    public static Javalin create(AdminOps ops, PrometheusMeterRegistry registry, String token,
            Supplier<Map<String, Object>> health) {
        BearerAuth auth = new BearerAuth(token);
        return Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.jsonMapper(new JavalinJackson(Json.MAPPER, false));
            config.http.defaultContentType = "application/json";

            config.routes.before(ctx -> {
                if (OPEN.contains(ctx.path())) {
                    return;
                }
                String who = auth.identify(ctx.header("Authorization"));
                if (who == null) {
                    ctx.header("WWW-Authenticate", "Bearer realm=\"vitstream-controller\"");
                    throw new ApiError(401, ctx.header("Authorization") == null
                            ? "missing bearer token (Authorization: Bearer <token>)" : "wrong bearer token");
                }
                ctx.attribute(ACTOR, who + "@" + ctx.ip());
            });

            config.routes.get("/health", ctx -> {
                Map<String, Object> body = health.get();
                ctx.status("ok".equals(body.get("status")) ? 200 : 503).json(body);
            });
            config.routes.get("/metrics", ctx -> ctx.contentType("text/plain; version=0.0.4; charset=utf-8")
                    .result(registry.scrape()));

            config.routes.get("/status", ctx -> ctx.json(ops.status()));
            config.routes.get("/versions", ctx -> ctx.json(ops.versions()));
            config.routes.get("/decisions", ctx -> ctx.json(ops.decisions()));
            config.routes.get("/policy", ctx -> ctx.json(ops.policy()));
            config.routes.put("/policy", ctx -> ctx.json(ops.setPolicy(body(ctx), actor(ctx))));
            config.routes.post("/prune", ctx -> {
                double ratio = number(onlyFields(body(ctx), "target_flops_ratio"), "target_flops_ratio",
                        "a number in (0, 1)");
                ctx.status(202).json(ops.prune(ratio, actor(ctx)));
            });
            config.routes.post("/activate/{version}", ctx -> {
                String v = ctx.pathParam("version");
                if (v.isBlank() || v.contains("/")) {
                    throw new ApiError(400, "invalid version '" + v + "'");
                }
                ctx.json(ops.activate(v, actor(ctx)));
            });
            config.routes.post("/rollback", ctx -> ctx.json(ops.rollback(actor(ctx))));
            config.routes.post("/keep-ratio", ctx -> {
                double r = number(onlyFields(body(ctx), "keep_ratio"), "keep_ratio", "a number in (0, 1]");
                ctx.json(ops.setKeepRatio(r, actor(ctx)));
            });
            config.routes.post("/keep-bounds", ctx -> {
                JsonNode b = onlyFields(body(ctx), "keep_floor", "keep_ceiling");
                ctx.json(ops.setKeepBounds(optionalNumber(b, "keep_floor", "a number in (0, 1]"),
                        optionalNumber(b, "keep_ceiling", "a number in (0, 1]"), actor(ctx)));
            });

            config.routes.exception(ApiError.class, (e, ctx) -> error(ctx, e.status, e.getMessage()));
            config.routes.exception(IllegalArgumentException.class, (e, ctx) -> error(ctx, 400, e.getMessage()));
            config.routes.exception(ControllerException.class, (e, ctx) -> error(ctx,
                    e.kind() == ControllerException.Kind.NOT_FOUND ? 404 : 409, e.getMessage()));
            config.routes.exception(Exception.class, (e, ctx) -> {
                log.warn("admin {} {} failed", ctx.method(), ctx.path(), e);
                error(ctx, 500, e.getClass().getSimpleName() + ": " + e.getMessage());
            });
        });
    }

    private static void error(Context ctx, int status, String message) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("error", message);
        body.put("status", status);
        ctx.status(status).json(body);
    }

    private static String actor(Context ctx) {
        String a = ctx.attribute(ACTOR);
        return a == null ? "anonymous@" + ctx.ip() : a;
    }

    private static JsonNode body(Context ctx) {
        String text = ctx.body();
        if (text.isBlank()) {
            throw new ApiError(400, "a JSON body is required");
        }
        try {
            JsonNode node = Json.MAPPER.readTree(text);
            if (node == null || !node.isObject()) {
                throw new ApiError(400, "the body must be a JSON object");
            }
            return node;
        } catch (JsonProcessingException e) {
            throw new ApiError(400, "malformed JSON: " + e.getOriginalMessage());
        }
    }

    private static JsonNode onlyFields(JsonNode body, String... allowed) {
        Set<String> ok = Set.of(allowed);
        for (Iterator<String> it = body.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!ok.contains(f)) {
                throw new ApiError(400, "unknown field " + f + " (expected " + String.join(", ", allowed) + ")");
            }
        }
        return body;
    }

    /** The field's value, null when absent; present but not a number: 400 naming it. */
    private static Double optionalNumber(JsonNode body, String field, String what) {
        JsonNode v = body.get(field);
        if (v == null) {
            return null;
        }
        if (!v.isNumber()) {
            throw new ApiError(400, field + " must be " + what + ", got " + v);
        }
        return v.asDouble();
    }

    private static double number(JsonNode body, String field, String what) {
        JsonNode v = body.get(field);
        if (v == null || !v.isNumber()) {
            throw new ApiError(400, field + " (" + what + ") is required" + (v == null ? "" : ", got " + v));
        }
        return v.asDouble();
    }
}
