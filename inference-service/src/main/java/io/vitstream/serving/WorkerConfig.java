package io.vitstream.serving;

import io.vitstream.engine.EngineKind;
import io.vitstream.engine.EngineOptions;
import io.vitstream.model.KeepPolicy;
import io.vitstream.serving.adapt.KeepChooser;
import io.vitstream.util.Settings;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Everything a worker is told, read once at start. Sources, later ones winning: defaults, a properties file,
 * environment variables ({@code VITSTREAM_BATCH_MAX_SIZE} for {@code batch.max.size}; {@code KAFKA_BOOTSTRAP_SERVERS}
 * too), explicit settings (command-line options). Settings prefixed {@code kafka.} (env {@code VITSTREAM_KAFKA_...})
 * go to the Kafka clients unchanged, for security settings and tuning. Every invalid setting is named in one error.
 *
 * @param bootstrapServers Kafka bootstrap servers
 * @param groupId consumer group of all workers
 * @param workerId this worker's id: the prediction's {@code worker} field, the status key and the transactional id
 * @param batchMaxSize largest micro-batch
 * @param batchMaxWaitMs longest wait for a batch to fill, measured from its first record
 * @param inferenceLanes forward passes run side by side (0: one per core on a CPU, one on a GPU)
 * @param inferenceThreads intra-op threads of one forward pass on a CPU (0: cores / lanes): per session for ONNX
 *     Runtime, for the whole process for PyTorch; fewer than the cores when the worker shares its machine or is pinned
 *     to some of its cores
 * @param inputMaxBytes largest accepted input
 * @param inputMaxPixels largest accepted width x height, checked from the image header before decoding
 * @param modelDir a local artifact to serve until {@code vit.control} names another version (trusted: the operator's
 *     file), or null to wait for the control topic
 * @param publicKey Ed25519 public key that versions from {@code vit.models} must be signed with
 * @param httpPort port of /metrics, /health and /ready (0: any free port; -1: no HTTP server)
 * @param heartbeatMs interval of {@code vit.worker-status} heartbeats
 * @param topK probabilities listed per prediction
 * @param teacherModelDir a local dense teacher model for agreement sampling (loaded only when the share is above 0)
 * @param teacherSampleShare share of inputs in [0, 1] also scored by the teacher at keep ratio 1.0 (0: off)
 * @param device where models run: null for DJL's default (a GPU when the engine sees one, else the CPU), or a
 *     forced {@code cpu} / {@code gpu:N}; the onnxruntime engine runs on the CPU unless a GPU is forced (and then
 *     needs the onnxruntime_gpu jar)
 * @param engine what runs forward passes: ONNX Runtime (auto) or DJL's PyTorch engine
 * @param kafka extra Kafka client settings
 * @param adaptiveKeep how the fast loop judges a keep ratio when vit.control gives bounds: {@code adapt.margin}
 *     (share of the SLO kept free, 0.2), {@code adapt.raise.margin} (further share a higher ratio must leave free
 *     before the ratio rises, 0.15), {@code adapt.max.utilisation} (highest arrival rate / capacity, 0.85),
 *     {@code adapt.raise.after} (batches in a row a higher ratio must fit before it is taken, 3) and
 *     {@code adapt.raise.after.ms} (and for at least this long, 1000)
 * @param tokenReducer how every served model turns a keep ratio below 1.0 into fewer tokens ({@code token.reducer}):
 *     null for {@code auto} (the default: a model's learned predictors where it has them, else CLS-attention
 *     dropping), or one method for every model: {@code learned}, {@code cls-attention}, {@code tome} or
 *     {@code grid-merge} (the last two merge tokens at the FLOPs dropping would cost at that ratio)
 */
public record WorkerConfig(
        String bootstrapServers,
        String groupId,
        String workerId,
        int batchMaxSize,
        long batchMaxWaitMs,
        int inferenceLanes,
        int inferenceThreads,
        long inputMaxBytes,
        long inputMaxPixels,
        Path modelDir,
        Path publicKey,
        int httpPort,
        long heartbeatMs,
        int topK,
        Path teacherModelDir,
        double teacherSampleShare,
        ai.djl.Device device,
        EngineKind engine,
        Map<String, String> kafka,
        KeepChooser.Settings adaptiveKeep,
        KeepPolicy.Method tokenReducer) {

    public static final String ENV_PREFIX = "VITSTREAM_";
    /**
     * Kafka client settings the worker owns: overriding any of them through {@code kafka.*} would silently break
     * exactly-once serving (a shared transactional id, no idempotence, reading uncommitted input, committing offsets
     * outside the transaction), so they are refused at start.
     */
    static final Set<String> EXACTLY_ONCE_SETTINGS = Set.of("transactional.id", "enable.idempotence",
            "isolation.level", "enable.auto.commit", "group.id", "acks");
    public static final String ENV_BOOTSTRAP = Settings.ENV_BOOTSTRAP;

    public WorkerConfig {
        kafka = Map.copyOf(kafka);
    }

    /** Reads the process environment, the optional properties file and {@code explicit} (which win). */
    public static WorkerConfig load(Path propertiesFile, Map<String, String> explicit) {
        return parse(Settings.gather("worker", propertiesFile, fromEnvironment(System.getenv()), explicit));
    }

    /**
     * Settings named by environment variables: {@code VITSTREAM_A_B} is {@code a.b}; the launcher's own variables and
     * the controller's ({@code VITSTREAM_CONTROLLER_*}) are not the worker's.
     */
    static Map<String, String> fromEnvironment(Map<String, String> env) {
        return Settings.fromEnvironment(env, ENV_PREFIX, Set.of("VITSTREAM_JAVA_OPTS", "VITSTREAM_LOG_LEVEL",
                "VITSTREAM_REBUILD", "VITSTREAM_DATA_DIR", "VITSTREAM_CONTROLLER_"));
    }

    /** Validates {@code settings}; unknown names are errors too (a typo must not pass silently). */
    public static WorkerConfig parse(Map<String, String> settings) {
        Settings p = new Settings(settings);
        String bootstrap = p.string("bootstrap.servers", null);
        if (bootstrap == null || bootstrap.isBlank()) {
            p.error("bootstrap.servers is required (--bootstrap-servers or KAFKA_BOOTSTRAP_SERVERS)");
        }
        String group = p.string("group.id", "vitstream-workers");
        String worker = p.string("worker.id", null);
        if (worker == null) {
            worker = defaultWorkerId(); // only when none is given: it claims an index on this host
        }
        if (worker.isBlank() || !worker.matches("[A-Za-z0-9._-]+")) {
            p.error("worker.id must be letters, digits, '.', '_' or '-', got '" + worker + "'");
        }
        int batch = (int) p.number("batch.max.size", 32, 1, 4096);
        long wait = p.number("batch.max.wait.ms", 5, 0, 60_000);
        int lanes = (int) p.number("inference.lanes", 0, 0, 256);
        int threads = (int) p.number("inference.threads", 0, 0, 1024);
        long maxBytes = p.number("input.max.bytes", 10L * 1024 * 1024, 1, Integer.MAX_VALUE);
        long maxPixels = p.number("input.max.pixels", 40_000_000, 1, Long.MAX_VALUE / 2);
        Path modelDir = p.path("model.dir", true);
        Path key = p.path("model.public.key", true);
        if (modelDir == null && key == null) {
            p.error("give model.dir (a local model to serve) or model.public.key (to accept signed models from "
                    + "the vit.models topic), or both");
        }
        int port = (int) p.number("http.port", 9400, -1, 65535);
        long heartbeat = p.number("heartbeat.ms", 5000, 100, 600_000);
        int topK = (int) p.number("top.k", 3, 1, 1000);
        Path teacher = p.path("teacher.model.dir", true);
        double share = p.share("teacher.sample.share");
        if (share > 0 && teacher == null) {
            p.error("teacher.sample.share is " + share + " but no teacher.model.dir (the dense teacher) is given");
        }
        ai.djl.Device device = null;
        String deviceName = p.string("device", "auto").trim();
        try {
            device = parseDevice(deviceName);
        } catch (IllegalArgumentException e) {
            p.error(e.getMessage());
        }
        EngineKind engine = EngineKind.AUTO;
        try {
            engine = EngineKind.parse(p.string("engine", "auto"));
        } catch (IllegalArgumentException e) {
            p.error(e.getMessage());
        }
        KeepPolicy.Method reducer = null;
        String reducerName = p.string("token.reducer", "auto").trim();
        if (!reducerName.equalsIgnoreCase("auto")) {
            try {
                reducer = KeepPolicy.Method.parse(reducerName);
            } catch (IllegalArgumentException e) {
                p.error("token.reducer must be auto, learned, cls-attention, tome or grid-merge, got '" + reducerName
                        + "'");
            }
        }
        Map<String, String> kafka = p.withPrefix("kafka.");
        for (String owned : EXACTLY_ONCE_SETTINGS) {
            if (kafka.containsKey(owned)) {
                p.error("kafka." + owned + " cannot be set: the worker sets it for exactly-once serving"
                        + (owned.equals("group.id") ? " (use group.id)" : ""));
            }
        }
        KeepChooser.Settings d = KeepChooser.Settings.DEFAULTS;
        double margin = p.decimal("adapt.margin", d.margin(), 0, 0.95);
        double raiseMargin = p.decimal("adapt.raise.margin", d.raiseMargin(), 0, 0.95);
        double maxUtil = p.decimal("adapt.max.utilisation", d.maxUtilisation(), 0.05, 1);
        int raiseAfter = (int) p.number("adapt.raise.after", d.raiseAfter(), 1, 10_000);
        long raiseAfterMs = p.number("adapt.raise.after.ms", d.raiseAfterMs(), 0, 600_000);
        KeepChooser.Settings adapt = d;
        if (margin + raiseMargin >= 1) {
            p.error("adapt.margin + adapt.raise.margin must stay under 1, got " + margin + " + " + raiseMargin);
        } else {
            adapt = new KeepChooser.Settings(margin, raiseMargin, maxUtil, raiseAfter, raiseAfterMs);
        }
        p.finish("worker");
        return new WorkerConfig(bootstrap, group, worker, batch, wait, lanes, threads, maxBytes, maxPixels, modelDir, key,
                port, heartbeat, topK, teacher, share, device, engine, kafka, adapt, reducer);
    }

    /**
     * Where the onnxruntime engine runs: a forced GPU, else the CPU (DJL's "auto" device choice is PyTorch's).
     */
    public ai.djl.Device onnxDevice() {
        return device != null && device.isGpu() ? device : ai.djl.Device.cpu();
    }

    /**
     * How served models' engines run: ONNX Runtime with {@code inference.threads} intra-op threads per session (by
     * default the cores shared out between the lanes); PyTorch's threads are process-wide and set by the worker.
     */
    public EngineOptions engineOptions() {
        if (engine.resolve() == EngineKind.PYTORCH) {
            return new EngineOptions(EngineKind.PYTORCH, 0, false, 0);
        }
        ai.djl.Device d = onnxDevice();
        int cores = Runtime.getRuntime().availableProcessors();
        int laneCount = inferenceLanes > 0 ? inferenceLanes : d.isGpu() ? 1 : cores;
        int threads = inferenceThreads > 0 ? inferenceThreads : Math.max(1, cores / laneCount);
        return new EngineOptions(engine, threads, d.isGpu(), Math.max(0, d.getDeviceId()));
    }

    /** {@code auto} (null: DJL's default device), {@code cpu}, {@code gpu} (index 0) or {@code gpu:N}. */
    static ai.djl.Device parseDevice(String name) {
        String n = name.toLowerCase(java.util.Locale.ROOT);
        if (n.equals("auto")) {
            return null;
        }
        if (n.equals("cpu")) {
            return ai.djl.Device.cpu();
        }
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("gpu(?::(\\d{1,3}))?").matcher(n);
        if (m.matches()) {
            return ai.djl.Device.gpu(m.group(1) == null ? 0 : Integer.parseInt(m.group(1)));
        }
        throw new IllegalArgumentException("device must be auto, cpu, gpu or gpu:N, got '" + name + "'");
    }

    /**
     * The host name plus the lowest index no other worker process on this host holds (a lock file under the
     * temporary directory, released by the OS when the process dies): stable across restarts, so a restarted worker
     * reuses its predecessor's transactional id and fences its open transaction at once, and distinct for workers
     * side by side.
     */
    private static String defaultWorkerId() {
        String host;
        try {
            host = java.net.InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "worker";
        }
        host = host.replaceAll("[^A-Za-z0-9._-]", "-");
        return host + "-" + WorkerIndex.claim(host);
    }
}
