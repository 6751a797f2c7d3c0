package io.vitstream.controller;

import io.vitstream.engine.EngineKind;
import io.vitstream.kafka.Replication;
import io.vitstream.controller.policy.PolicySettings;
import io.vitstream.controller.pruner.PruneSettings;
import io.vitstream.controller.pruner.Saliency;
import io.vitstream.controller.stream.MetricsSettings;
import java.time.Duration;
import io.vitstream.util.Settings;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Everything the controller is told, read once at start. Sources, later ones winning: defaults, a properties file,
 * environment variables ({@code VITSTREAM_CONTROLLER_ADMIN_TOKEN} is {@code admin.token}; {@code
 * KAFKA_BOOTSTRAP_SERVERS} too), explicit settings (command-line options). {@code kafka.*} settings go to the Kafka
 * clients unchanged; {@code policy.*} settings override the policy ({@code policy.slo.ms} is {@code slo_ms}). Every
 * invalid or unknown setting is named in one error.
 *
 * @param bootstrapServers Kafka bootstrap servers
 * @param adminHost interface of the admin REST API
 * @param adminPort its port (0: any free port)
 * @param adminToken bearer token every admin endpoint (reads included) requires; null only with {@code insecure}
 * @param insecure explicitly run the admin API without a token
 * @param signingKey Ed25519 private key new versions are signed with (null: re-pruned versions cannot be published)
 * @param publicKey Ed25519 public key fetched parents must be signed with (null: not checked)
 * @param workDir where parents are fetched to and new versions written
 * @param streamsStateDir Kafka Streams state directory of the metrics topology
 * @param applicationId Kafka Streams application id (also the prefix of its internal topics)
 * @param tickMs interval of the controller's loop (rollout steps; the policy itself runs once per window)
 * @param workerTimeoutMs a worker whose last heartbeat is older than this is not live
 * @param history decisions kept in memory and served by {@code GET /decisions}
 * @param topicPartitions partitions of the contract's data topics, when the controller has to create them
 * @param topicReplication replication of the topics the controller creates (the contract's when missing, its own,
 *     and its Kafka Streams app's internal ones): {@code topics.replication} (default: the brokers'
 *     {@code default.replication.factor}) and {@code topics.min.insync.replicas} (default: 2 from three replicas up,
 *     else 1; the brokers' {@code min.insync.replicas} when the factor is theirs too)
 * @param metrics windows of the metrics topology ({@code metrics.slice.ms}, {@code metrics.join.window.ms},
 *     {@code metrics.join.grace.ms}, {@code metrics.retention.ms})
 * @param prune settings of re-prune jobs
 * @param saliency saliency measure of re-prune jobs
 * @param policyOverrides {@code policy.*} settings, without the prefix
 * @param kafka extra Kafka client settings
 */
public record ControllerConfig(
        String bootstrapServers,
        String adminHost,
        int adminPort,
        String adminToken,
        boolean insecure,
        Path signingKey,
        Path publicKey,
        Path workDir,
        Path streamsStateDir,
        String applicationId,
        long tickMs,
        long workerTimeoutMs,
        int history,
        int topicPartitions,
        Replication topicReplication,
        MetricsSettings metrics,
        PruneSettings prune,
        Saliency.Method saliency,
        Map<String, String> policyOverrides,
        Map<String, String> kafka) {

    public static final String ENV_PREFIX = "VITSTREAM_CONTROLLER_";
    public static final String ENV_BOOTSTRAP = Settings.ENV_BOOTSTRAP;

    public ControllerConfig {
        policyOverrides = Map.copyOf(policyOverrides);
        kafka = Map.copyOf(kafka);
    }

    /** Kafka client settings: bootstrap servers plus the {@code kafka.*} pass-through. */
    public Map<String, Object> clientSettings() {
        Map<String, Object> m = new LinkedHashMap<>(kafka);
        m.put("bootstrap.servers", bootstrapServers);
        return m;
    }

    /** The policy at start: {@code base} (defaults, or what was stored) with the {@code policy.*} settings applied. */
    public PolicySettings policy(PolicySettings base) {
        return policyOverrides.isEmpty() ? base : base.withSettings(policyOverrides);
    }

    /** Reads the process environment, the optional properties file and {@code explicit} (which win). */
    public static ControllerConfig load(Path propertiesFile, Map<String, String> explicit) {
        return parse(Settings.gather("controller", propertiesFile, fromEnvironment(System.getenv()), explicit));
    }

    /** Settings named by environment variables: {@code VITSTREAM_CONTROLLER_A_B} is {@code a.b}. */
    static Map<String, String> fromEnvironment(Map<String, String> env) {
        return Settings.fromEnvironment(env, ENV_PREFIX, Set.of());
    }

    /**
     * {@code topics.replication} and {@code topics.min.insync.replicas}. The factor defaults to the brokers' own
     * default, so that against a cluster set up for it (as {@code vitstream broker --nodes 3} is) the controller needs
     * nothing but the bootstrap servers.
     */
    private static Replication topicReplication(Settings p) {
        int factor = p.string("topics.replication", null) == null ? Replication.BROKER_DEFAULT
                : (int) p.number("topics.replication", 1, 1, 10);
        int dflt = factor == Replication.BROKER_DEFAULT ? Replication.BROKER_DEFAULT
                : Replication.defaultMinInsync(factor);
        int minIsr = p.string("topics.min.insync.replicas", null) == null ? dflt
                : (int) p.number("topics.min.insync.replicas", dflt, 1, 10);
        try {
            return new Replication((short) factor, minIsr);
        } catch (IllegalArgumentException e) {
            p.error("topics.min.insync.replicas: " + e.getMessage());
            return Replication.BROKER_DEFAULTS;
        }
    }

    /** Validates {@code settings}; unknown names are errors too (a typo must not pass silently). */
    public static ControllerConfig parse(Map<String, String> settings) {
        Settings p = new Settings(settings);
        String bootstrap = p.string("bootstrap.servers", null);
        if (bootstrap == null) {
            p.error("bootstrap.servers is required (--bootstrap-servers or KAFKA_BOOTSTRAP_SERVERS)");
        }
        String host = p.string("admin.host", "0.0.0.0");
        int port = (int) p.number("admin.port", 9500, 0, 65535);
        String token = p.string("admin.token", null);
        boolean insecure = p.bool("admin.insecure", false);
        if (token == null && !insecure) {
            p.error("admin.token is required (--admin-token-file, VITSTREAM_CONTROLLER_ADMIN_TOKEN or the config file); to run the admin"
                    + " API without authentication say so explicitly with admin.insecure=true (--insecure)");
        }
        if (token != null && insecure) {
            p.error("admin.token and admin.insecure=true together: give a token, or say insecure, not both");
        }
        if (token != null && token.length() < 16) {
            p.error("admin.token must be at least 16 characters");
        }
        Path key = p.path("signing.private.key", true);
        Path pub = p.path("signing.public.key", true);
        if (key != null && pub == null) {
            p.error("signing.private.key needs signing.public.key: a re-prune's parent fetched from vit.models"
                    + " must verify before the controller signs what it makes from it");
        }
        Path work = p.path("work.dir", false);
        if (work == null) {
            work = Path.of(System.getProperty("java.io.tmpdir"), "vitstream-controller");
        }
        Path stateDir = p.path("streams.state.dir", false);
        if (stateDir == null) {
            stateDir = work.resolve("streams");
        }
        String appId = p.string("application.id", "vitstream-controller");
        long tick = p.number("tick.ms", 500, 50, 60_000);
        long workerTimeout = p.number("worker.timeout.ms", 15_000, 500, 3_600_000);
        int history = (int) p.number("history", 500, 1, 100_000);
        int partitions = (int) p.number("topics.partitions", 4, 1, 10_000);
        Replication replication = topicReplication(p);
        MetricsSettings md = MetricsSettings.defaults();
        MetricsSettings metrics = md;
        try {
            metrics = new MetricsSettings(
                    Duration.ofMillis(p.number("metrics.slice.ms", md.slice().toMillis(), 100, 3_600_000)),
                    Duration.ofMillis(p.number("metrics.join.window.ms", md.joinWindow().toMillis(), 1, 86_400_000)),
                    Duration.ofMillis(p.number("metrics.join.grace.ms", md.joinGrace().toMillis(), 0, 86_400_000)),
                    Duration.ofMillis(p.number("metrics.retention.ms", md.retention().toMillis(), 1,
                            30L * 86_400_000)));
        } catch (IllegalArgumentException e) {
            p.error("metrics: " + e.getMessage());
        }
        PruneSettings d = PruneSettings.defaults(Path.of("/usr/share/datasets/fashion-mnist"));
        Path dataDir = p.path("data.dir", false);
        PruneSettings prune = d;
        try {
            prune = new PruneSettings(
                dataDir == null ? d.dataDir() : dataDir,
                (int) p.number("prune.calibration.images", d.calibrationImages(), 1, 60_000),
                (int) p.number("prune.validation.images", d.validationImages(), 1, 59_000),
                (int) p.number("prune.train.images", d.trainImages(), 0, 60_000),
                (int) p.number("prune.epochs", d.epochs(), 0, 1000),
                (int) p.number("prune.batch.size", d.batchSize(), 1, 4096),
                p.decimal("prune.learning.rate", d.learningRate(), 0, 1),
                p.decimal("prune.temperature", d.temperature(), 0, 100),
                p.decimal("prune.distill.weight", d.distillWeight(), 0, 1),
                (int) p.number("prune.patience", d.patience(), 1, 1000),
                p.number("prune.seed", d.seed(), Long.MIN_VALUE, Long.MAX_VALUE),
                EngineKind.parse(p.string("prune.engine", d.engine().id())),
                (int) p.number("prune.hessian.probes", d.hessianProbes(), 1, 10_000),
                p.decimal("prune.cap.damping", d.capDamping(), 0, 10));
        } catch (IllegalArgumentException e) {
            p.error("prune: " + e.getMessage());
        }
        Saliency.Method saliency = Saliency.Method.OBD; // chosen on validation for models/pruned-50 (docs/pruning.md)
        String sal = p.string("prune.saliency", null);
        if (sal != null) {
            try {
                saliency = Saliency.Method.parse(sal);
            } catch (IllegalArgumentException e) {
                p.error("prune.saliency: " + e.getMessage());
            }
        }
        Map<String, String> policy = p.withPrefix("policy.");
        Map<String, String> kafka = p.withPrefix("kafka.");
        if (!policy.isEmpty()) {
            try {
                PolicySettings.defaults().withSettings(policy);
            } catch (IllegalArgumentException e) {
                p.error(e.getMessage());
            }
        }
        p.finish("controller");
        return new ControllerConfig(bootstrap, host, port, token, insecure, key, pub, work, stateDir, appId, tick,
                workerTimeout, history, partitions, replication, metrics, prune, saliency, policy, kafka);
    }
}
