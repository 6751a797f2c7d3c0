package io.vitstream.engine;

/**
 * How an engine runs.
 *
 * @param kind which implementation
 * @param threads intra-op threads of one forward pass (0: the engine's default, every core for PyTorch)
 * @param gpu run on a GPU where the engine can (ONNX Runtime: the CUDA provider of the {@code onnxruntime_gpu} jar;
 *     falls back to the CPU with a warning when that jar or a device is missing)
 * @param gpuIndex which GPU
 */
public record EngineOptions(EngineKind kind, int threads, boolean gpu, int gpuIndex) {
    public EngineOptions {
        if (kind == null) {
            kind = EngineKind.AUTO;
        }
        if (threads < 0) {
            throw new IllegalArgumentException("engine threads must be 0 (default) or more, got " + threads);
        }
    }

    /** The default engine on the CPU with its default threads. */
    public static EngineOptions defaults() {
        return new EngineOptions(EngineKind.AUTO, 0, false, 0);
    }

    public static EngineOptions of(EngineKind kind) {
        return new EngineOptions(kind, 0, false, 0);
    }

    public EngineOptions withThreads(int n) {
        return new EngineOptions(kind, n, gpu, gpuIndex);
    }
}
