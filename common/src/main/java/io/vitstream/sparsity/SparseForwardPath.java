package io.vitstream.sparsity;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.ParameterStore;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsePath;
import io.vitstream.model.VisionTransformer;

/** {@link SparseForward}'s passes behind the model's {@link SparsePath} seam (registered in META-INF/services). */
public final class SparseForwardPath implements SparsePath {
    @Override
    public NDArray infer(VisionTransformer net, ParameterStore ps, NDArray pixels, KeepPolicy policy) {
        return SparseForward.infer(net, ps, pixels, policy);
    }

    @Override
    public NDList train(VisionTransformer net, ParameterStore ps, NDArray pixels, double keepRatio) {
        SparseForward.TrainOutput out = SparseForward.train(net, ps, pixels, keepRatio, true, null);
        NDList list = new NDList(out.logits(), out.tokens());
        list.addAll(out.stagePolicies());
        return list;
    }
}
