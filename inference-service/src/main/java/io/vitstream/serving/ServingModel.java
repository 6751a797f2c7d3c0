package io.vitstream.serving;

import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.model.FlopCounter;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * One loaded, warmed-up model version as the worker uses it. Not thread-safe: only the worker thread calls
 * {@link #logits}; the loader thread builds it and hands it over whole.
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
     * Tokens entering each block at {@code keepRatio}. Until token sparsification is wired into the forward pass
     * every block sees all tokens, so the list reports what actually ran (dense), not what was asked for.
     */
    List<Integer> tokensKept(double keepRatio) {
        VitConfig c = manifest.architecture();
        Integer[] t = new Integer[c.depth()];
        Arrays.fill(t, c.numTokens());
        return Collections.unmodifiableList(Arrays.asList(t));
    }

    long flops(List<Integer> tokensKept) {
        return FlopCounter.perImage(manifest.architecture(), tokensKept.stream().mapToInt(Integer::intValue).toArray());
    }

    /** (B, K) logits of B normalised images. */
    float[][] logits(float[] pixels, int batch, double keepRatio) {
        return model.logits(pixels, batch);
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
