package io.vitstream.bench;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.engine.EngineKind;
import io.vitstream.engine.EngineOptions;
import io.vitstream.engine.InferenceEngine;
import io.vitstream.engine.factory.Engines;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.VitModel;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The engines a benchmark compares, opened over loaded models when a measurement first asks for them and closed
 * together. ONNX Runtime fixes a session's intra-op threads when the session is built, so there is one engine per
 * (model, keep policy, threads, instance): a row's session is never evicted by another row's, and two instances of
 * the same row are two sessions (one per lane). PyTorch's threads are process-wide: one engine per model, and
 * {@link #usePyTorchThreads} before each measurement (the threads found at start are restored on close).
 */
final class BenchEngines implements AutoCloseable {
    /** What {@code --engine} of a benchmark reads: the engines of {@code auto|onnxruntime|pytorch}, or both. */
    static List<EngineKind> parse(String value) {
        if (value != null && value.trim().equalsIgnoreCase("both")) {
            return List.of(EngineKind.ONNXRUNTIME, EngineKind.PYTORCH);
        }
        try {
            return List.of(EngineKind.parse(value).resolve());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--engine must be auto, onnxruntime, pytorch or both, got '" + value
                    + "'");
        }
    }

    /** How an engine reads in tables. */
    static String label(EngineKind kind) {
        return kind.resolve().id();
    }

    /** The engines of a list, for headers: "onnxruntime, pytorch". */
    static String labels(List<EngineKind> kinds) {
        return String.join(", ", kinds.stream().map(BenchEngines::label).toList());
    }

    private record OnnxKey(VitModel model, KeepPolicy policy, int threads, int instance) {}

    private final Map<OnnxKey, InferenceEngine> onnx = new HashMap<>();
    private final Map<ModelArtifact.Loaded, InferenceEngine> pytorch = new IdentityHashMap<>();
    private final int pytorchThreadsBefore = VitModel.intraOpThreads();

    /**
     * The engine of {@code kind} running {@code model} at {@code policy} with {@code threads} intra-op threads
     * (ONNX Runtime: its session's; PyTorch: see {@link #usePyTorchThreads}). {@code instance} tells apart engines
     * that are otherwise the same, one per lane; PyTorch has one per model whatever the instance. Built on the
     * calling thread (ONNX Runtime's thread pool inherits that thread's CPU set).
     */
    synchronized InferenceEngine engine(EngineKind kind, ModelArtifact.Loaded model, KeepPolicy policy, int threads,
            int instance) {
        if (kind.resolve() == EngineKind.PYTORCH) {
            return pytorch.computeIfAbsent(model, m -> m.engine(EngineOptions.of(EngineKind.PYTORCH)));
        }
        return onnx.computeIfAbsent(new OnnxKey(model.model(), policy, threads, instance),
                k -> Engines.open(model.model(), EngineOptions.of(EngineKind.ONNXRUNTIME).withThreads(threads)));
    }

    /** PyTorch's process-wide intra-op threads, set before timing it (a no-op for other engines). */
    static void usePyTorchThreads(EngineKind kind, int threads) {
        if (kind.resolve() == EngineKind.PYTORCH && VitModel.intraOpThreads() != threads) {
            VitModel.setIntraOpThreads(threads);
        }
    }

    @Override
    public synchronized void close() {
        onnx.values().forEach(InferenceEngine::close);
        onnx.clear();
        pytorch.values().forEach(InferenceEngine::close);
        pytorch.clear();
        VitModel.setIntraOpThreads(pytorchThreadsBefore);
    }
}
