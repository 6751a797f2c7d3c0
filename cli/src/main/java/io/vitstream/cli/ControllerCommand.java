package io.vitstream.cli;

import io.vitstream.controller.ControllerMain;
import io.vitstream.util.Json;
import io.vitstream.util.UserError;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code vitstream controller}: the controller until stopped. Options override environment variables
 * ({@code VITSTREAM_CONTROLLER_*}, {@code KAFKA_BOOTSTRAP_SERVERS}), which override the properties file (see
 * ControllerConfig).
 */
@Command(name = "controller", mixinStandardHelpOptions = true,
        description = {"Run the controller: metrics from vit.predictions and vit.labels (Kafka Streams), the SLO "
            + "policy (keep-ratio bounds the workers adapt within, or one fixed ratio; re-prune, rollback), canary "
            + "rollouts, and the admin REST API with /metrics and /health.",
            "Settings: options > environment (VITSTREAM_CONTROLLER_<NAME>, KAFKA_BOOTSTRAP_SERVERS) > --config file."})
final class ControllerCommand implements Callable<Integer> {
    @Option(names = "--config", description = "Properties file (bootstrap.servers, admin.token, policy.*, prune.* ...).")
    Path config;

    @Option(names = {"--bootstrap-servers", "--bootstrap"}, description = "Kafka bootstrap servers.")
    String bootstrap;

    @Option(names = "--admin-port", description = "Admin API port (default 9500; 0: any free port).")
    String adminPort;

    @Option(names = "--admin-host", description = "Admin API interface (default 0.0.0.0).")
    String adminHost;

    @Option(names = "--admin-token-file", description = "File holding the admin bearer token (or set "
            + "VITSTREAM_CONTROLLER_ADMIN_TOKEN; a token on the command line would show in ps).")
    Path adminTokenFile;

    @Option(names = "--insecure", description = "Run the admin API without a token (refused otherwise).")
    boolean insecure;

    @Option(names = "--signing-key", description = "Ed25519 private key (PEM) that re-pruned versions are signed with.")
    String signingKey;

    @Option(names = "--public-key", description = "Ed25519 public key that fetched parent versions must be signed with.")
    String publicKey;

    @Option(names = "--work-dir", description = "Where parents are fetched and new versions written.")
    String workDir;

    @Option(names = "--data-dir", description = "Fashion-MNIST directory for re-prune calibration and fine-tuning.")
    String dataDir;

    @Option(names = "--slo-ms", description = {"p95 end-to-end latency SLO in ms (policy.slo.ms). The workers choose"
            + " each batch's keep ratio within [policy.keep.floor, policy.keep.ceiling] to meet it; the controller"
            + " raises the floor when accuracy falls and re-prunes when they sit at the floor (policy.keep.mode=fixed:"
            + " the controller steps one ratio instead)."})
    String sloMs;

    @Option(names = "--policy", description = "JSON file of policy settings (snake_case, as GET /policy shows).")
    Path policyFile;

    @Option(names = "--set", description = "Any setting as name=value (repeatable), e.g. --set policy.window.s=5.")
    List<String> sets = List.of();

    @Override
    public Integer call() throws Exception {
        Map<String, String> explicit = new LinkedHashMap<>();
        if (policyFile != null) {
            explicit.putAll(policySettings(policyFile));
        }
        for (String s : sets) {
            int eq = s.indexOf('=');
            if (eq < 1) {
                throw new UserError("--set expects name=value, got '" + s + "'");
            }
            explicit.put(s.substring(0, eq).trim(), s.substring(eq + 1).trim());
        }
        explicit.put("bootstrap.servers", bootstrap);
        explicit.put("admin.port", adminPort);
        explicit.put("admin.host", adminHost);
        if (adminTokenFile != null) {
            try {
                explicit.put("admin.token", Files.readString(adminTokenFile).trim());
            } catch (IOException e) {
                throw new UserError("cannot read --admin-token-file " + adminTokenFile + ": " + e.getMessage(), e);
            }
        }
        if (insecure) {
            explicit.put("admin.insecure", "true");
        }
        explicit.put("signing.private.key", signingKey);
        explicit.put("signing.public.key", publicKey);
        explicit.put("work.dir", workDir);
        explicit.put("data.dir", dataDir);
        explicit.put("policy.slo.ms", sloMs);
        ControllerMain.run(config, explicit);
        return 0;
    }

    /** A policy JSON file as {@code policy.*} settings ({@code slo_ms} is {@code policy.slo.ms}). */
    static Map<String, String> policySettings(Path file) {
        Map<String, String> out = new LinkedHashMap<>();
        try {
            var node = Json.MAPPER.readTree(file.toFile());
            if (node == null || !node.isObject()) {
                throw new UserError(file + ": a policy file is a JSON object of settings, e.g. {\"slo_ms\": 200}");
            }
            node.fields().forEachRemaining(e -> out.put("policy." + e.getKey().replace('_', '.'),
                    e.getValue().isTextual() ? e.getValue().asText() : e.getValue().toString()));
        } catch (IOException e) {
            throw new UserError("cannot read policy file " + file + ": " + e.getMessage().lines().findFirst()
                    .orElse(""), e);
        }
        return out;
    }
}
