package io.vitstream.serving;

import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.model.FlopCounter;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import java.util.Arrays;
import io.vitstream.sparsity.KeepPolicy;
import io.vitstream.sparsity.SparseForward;
import io.vitstream.sparsity.SparsifierConfig;
import java.util.List;

/**
 * One loaded, warmed-up model version as the worker uses it. The loader thread builds it and hands it over whole;
 * the worker's lanes then call {@link #logits} side by side (each call works in its own NDManager scope and only
 * reads the weights), and the loop thread closes it only when no lane runs it.
 */
final class ServingModel implements AutoCloseable {
    private final Manifest manifest;
    private final VitModel model;

    ServingModel(ModelArtifact.Loaded loaded) {
        this.manifest = loaded.manifest();
        this.model = loaded.model();
    }

    String version() {
        return manifest.version();
    }

    Manifest manifest() {
        return manifest;
    }

    int inputSize() {
        return manifest.input().height();
    }

    /**
     * How a keep ratio is applied to this model: its learned token predictors when it has them, otherwise the
     * training-free CLS-attention ranking (EViT), so that the knob works on every version; 1.0 is the dense forward.
     */
    KeepPolicy policy(double keepRatio) {
        if (keepRatio >= 1.0) {
            return KeepPolicy.dense();
        }
        SparsifierConfig own = model.network().sparsifier();
        return own != null && own.hasPredictors() ? KeepPolicy.learned(keepRatio)
                : new KeepPolicy(keepRatio, KeepPolicy.Method.CLS_ATTENTION, false);
    }

    /** Tokens (CLS included) entering each block at {@code keepRatio}: what the forward pass really runs. */
    List<Integer> tokensKept(double keepRatio) {
        KeepPolicy policy = policy(keepRatio);
        VitConfig c = manifest.architecture();
        int[] tokens;
        if (policy.isDense()) {
            tokens = new int[c.depth()];
            Arrays.fill(tokens, c.numTokens());
        } else {
            tokens = SparseForward.tokensPerBlock(c, SparseForward.stagesFor(model.network(), policy).stages(), policy);
        }
        return Arrays.stream(tokens).boxed().toList();
    }

    /** FLOPs per image at {@code keepRatio}, token predictors included. */
    long flops(double keepRatio) {
        KeepPolicy policy = policy(keepRatio);
        return policy.isDense() ? FlopCounter.perImage(manifest.architecture())
                : SparseForward.flopsPerImage(manifest.architecture(),
                        SparseForward.stagesFor(model.network(), policy), policy);
    }

    /** (B, K) logits of B normalised images at {@code keepRatio}. */
    float[][] logits(float[] pixels, int batch, double keepRatio) {
        return model.logits(pixels, batch, policy(keepRatio));
    }

    /** One forward pass at the batch size it will serve, so the first real batch does not pay for allocation. */
    void warmUp(int batch) {
        logits(new float[batch * manifest.input().pixels()], batch, 1.0);
    }

    @Override
    public void close() {
        model.close();
    }
}
