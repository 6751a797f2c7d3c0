package io.vitstream.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.ParameterStore;
import java.util.ServiceLoader;

/**
 * The seam between the model and the token sparsifier: the model's token-reducing forward passes, implemented in
 * {@code io.vitstream.sparsity} and found through {@link ServiceLoader}, so the model package does not depend on the
 * sparsifier's code (which depends on the model's blocks).
 */
public interface SparsePath {
    /** Logits (B, K) of {@code pixels} (B, C, H, W) with the tokens reduced as {@code policy} says. */
    NDArray infer(VisionTransformer net, ParameterStore ps, NDArray pixels, KeepPolicy policy);

    /**
     * DynamicViT's training pass at {@code keepRatio} (Gumbel keep decisions, attention masking): logits, the final
     * tokens (B, N, D), then one keep policy (B, N - 1) per stage.
     */
    NDList train(VisionTransformer net, ParameterStore ps, NDArray pixels, double keepRatio);

    /** The implementation on the class path. */
    static SparsePath installed() {
        return Installed.PATH;
    }

    /** Loaded once, on first use. */
    final class Installed {
        private static final SparsePath PATH = ServiceLoader.load(SparsePath.class, SparsePath.class.getClassLoader())
                .findFirst().orElseThrow(() -> new IllegalStateException(
                        "no token-sparse forward pass on the class path (io.vitstream.sparsity.SparseForwardPath)"));

        private Installed() {}
    }
}
