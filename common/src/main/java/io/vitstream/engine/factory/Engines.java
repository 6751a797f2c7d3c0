package io.vitstream.engine.factory;

import io.vitstream.engine.EngineKind;
import io.vitstream.engine.EngineOptions;
import io.vitstream.engine.InferenceEngine;
import io.vitstream.engine.onnx.ModelWeights;
import io.vitstream.engine.onnx.OnnxRuntimeEngine;
import io.vitstream.engine.pytorch.PyTorchEngine;
import io.vitstream.model.VitModel;

/** Opens the engine a setting asks for over a loaded model. */
public final class Engines {
    private Engines() {}

    /**
     * An engine over {@code model}, which the caller keeps and closes after the engine. ONNX Runtime's graphs are
     * written from copies of the weights made here, so later changes to {@code model} (training) do not reach it.
     *
     * @throws io.vitstream.engine.onnx.UnsupportedModelException when the model has a part the ONNX writer does not
     *     know (never a silent fall-back to PyTorch)
     */
    public static InferenceEngine open(VitModel model, EngineOptions options) {
        if (options.kind().resolve() == EngineKind.PYTORCH) {
            if (options.threads() > 0) {
                VitModel.setIntraOpThreads(options.threads());
            }
            return PyTorchEngine.borrowing(model);
        }
        return OnnxRuntimeEngine.create(model.config(), model.network().sparsifier(), ModelWeights.of(model), options);
    }
}
