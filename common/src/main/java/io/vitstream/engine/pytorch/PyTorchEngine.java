package io.vitstream.engine.pytorch;

import io.vitstream.engine.EngineKind;
import io.vitstream.engine.InferenceEngine;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.VitModel;

/**
 * DJL's PyTorch engine running a {@link VitModel} eagerly: the reference every other engine is checked against, and
 * the fallback. PyTorch's intra-op threads are process-wide ({@link VitModel#setIntraOpThreads}).
 */
public final class PyTorchEngine implements InferenceEngine {
    private final VitModel model;
    private final boolean owns;

    private PyTorchEngine(VitModel model, boolean owns) {
        this.model = model;
        this.owns = owns;
    }

    /** An engine that closes {@code model} with it. */
    public static PyTorchEngine owning(VitModel model) {
        return new PyTorchEngine(model, true);
    }

    /** An engine over a model its caller keeps and closes (training's validation, a pruning job's checks). */
    public static PyTorchEngine borrowing(VitModel model) {
        return new PyTorchEngine(model, false);
    }

    @Override
    public String name() {
        return EngineKind.PYTORCH.id();
    }

    @Override
    public float[][] logits(float[] pixels, int batch, KeepPolicy policy) {
        return model.logits(pixels, batch, policy);
    }

    @Override
    public void close() {
        if (owns) {
            model.close();
        }
    }
}
