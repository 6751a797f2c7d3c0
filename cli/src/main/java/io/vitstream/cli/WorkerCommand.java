package io.vitstream.cli;

import io.vitstream.serving.WorkerMain;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code vitstream worker}: one inference worker until stopped. Options override environment variables
 * ({@code VITSTREAM_*}, {@code KAFKA_BOOTSTRAP_SERVERS}), which override the properties file (see WorkerConfig).
 */
@Command(name = "worker", mixinStandardHelpOptions = true,
        description = {"Run an inference worker: consume vit.images, produce vit.predictions exactly once, follow",
            "vit.control for model versions and keep ratio. Stops cleanly on Ctrl-C / SIGTERM.",
            "Settings: options > environment (VITSTREAM_<NAME>, KAFKA_BOOTSTRAP_SERVERS) > --config file."})
final class WorkerCommand implements Callable<Integer> {
    @Option(names = "--config", description = "Properties file (bootstrap.servers, batch.max.size, kafka.* ...).")
    Path config;

    @Option(names = {"--bootstrap-servers", "--bootstrap"}, description = "Kafka bootstrap servers.")
    String bootstrap;

    @Option(names = "--model", description = "Local model directory to serve until vit.control names another version.")
    String model;

    @Option(names = "--public-key", description = "Ed25519 public key that models from vit.models must be signed with.")
    String publicKey;

    @Option(names = "--worker-id", description = "Worker id (default: host name plus the lowest index free on this host, stable across restarts).")
    String workerId;

    @Option(names = "--group-id", description = "Consumer group (default: vitstream-workers).")
    String groupId;

    @Option(names = "--batch-max-size", description = "Largest micro-batch (default: 32).")
    String batchMaxSize;

    @Option(names = "--batch-max-wait-ms", description = "Longest wait after a batch's first record (default: 5).")
    String batchMaxWaitMs;

    @Option(names = "--inference-lanes", paramLabel = "N",
            description = "Forward passes run side by side (default 0: one per core on a CPU, one on a GPU).")
    String inferenceLanes;

    @Option(names = "--inference-threads", paramLabel = "N",
            description = {"Threads per forward pass on a CPU (default 0: cores / lanes; ONNX Runtime: per session,"
                + " PyTorch: for the whole process);",
                "set it when the worker may use fewer cores than the machine has (a CPU quota, pinning)."})
    String inferenceThreads;

    @Option(names = "--http-port", description = "Port of /metrics, /health, /ready (default 9400; 0 any; -1 none).")
    String httpPort;

    @Option(names = "--teacher-model", paramLabel = "DIR",
            description = "Dense teacher model for agreement sampling (e.g. models/base); loaded once at start.")
    String teacherModel;

    @Option(names = "--teacher-sample-share", paramLabel = "SHARE",
            description = "Share of inputs in [0, 1] also scored by the teacher at keep ratio 1.0 (default 0: off).")
    String teacherSampleShare;

    @Option(names = "--device", paramLabel = "DEVICE",
            description = "auto (default: a GPU when DJL's PyTorch engine sees one, else the CPU), cpu, gpu or gpu:N.")
    String device;

    @Option(names = "--engine", paramLabel = "auto|onnxruntime|pytorch", description = "Inference engine: auto"
            + " (default, = onnxruntime: the ONNX graph written from the verified model), onnxruntime or pytorch (DJL's"
            + " eager engine, the reference).")
    String engine;

    @Option(names = "--token-reducer", paramLabel = "auto|learned|cls-attention|tome|grid-merge",
            description = "How a keep ratio below 1.0 reduces tokens in every served model: auto (default: learned"
            + " predictors where the model has them, else cls-attention dropping), or one method for all (tome and"
            + " grid-merge merge tokens at the FLOPs dropping costs at that ratio).")
    String tokenReducer;

    @Override
    public Integer call() throws Exception {
        Map<String, String> explicit = new LinkedHashMap<>();
        explicit.put("bootstrap.servers", bootstrap);
        explicit.put("model.dir", model);
        explicit.put("model.public.key", publicKey);
        explicit.put("worker.id", workerId);
        explicit.put("group.id", groupId);
        explicit.put("batch.max.size", batchMaxSize);
        explicit.put("batch.max.wait.ms", batchMaxWaitMs);
        explicit.put("inference.lanes", inferenceLanes);
        explicit.put("inference.threads", inferenceThreads);
        explicit.put("http.port", httpPort);
        explicit.put("teacher.model.dir", teacherModel);
        explicit.put("teacher.sample.share", teacherSampleShare);
        explicit.put("device", device);
        explicit.put("engine", engine);
        explicit.put("token.reducer", tokenReducer);
        WorkerMain.run(config, explicit);
        return 0;
    }
}
