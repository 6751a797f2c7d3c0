package io.vitstream.engine;

import io.vitstream.model.KeepPolicy;

/**
 * What runs a model's forward pass outside training: logits for a batch of normalised pixels at a keep policy. Two
 * implementations: ONNX Runtime (serving, evaluation, benchmarks; a graph per keep policy generated from the verified
 * weights) and DJL's PyTorch engine (the reference, and the fallback). Implementations are safe to call from several
 * threads at once; {@link #close} must not race a running call.
 */
public interface InferenceEngine extends AutoCloseable {
    /** {@link EngineKind#id()} of this implementation. */
    String name();

    /**
     * (B, K) logits.
     *
     * @param pixels B * C * H * W normalised floats
     */
    float[][] logits(float[] pixels, int batch, KeepPolicy policy);

    /**
     * Makes {@code policy} ready to serve (an ONNX graph is written, its session created and run once at
     * {@code batch}); a no-op where there is nothing to build. Call it off the hot path.
     */
    default void prepare(KeepPolicy policy, int batch) {}

    /** Whether {@code policy} runs without building anything first. */
    default boolean isPrepared(KeepPolicy policy) {
        return true;
    }

    @Override
    void close();
}
