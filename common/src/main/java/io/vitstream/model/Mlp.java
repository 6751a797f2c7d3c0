package io.vitstream.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.function.Consumer;

/**
 * Two-layer GELU MLP. Input and output (B, N, D); hidden (B, N, M). {@code fc1.weight} is (M, D) and
 * {@code fc2.weight} is (D, M): pruning hidden neuron j removes row j of fc1 and column j of fc2.
 */
public final class Mlp extends AbstractBlock {
    private final int hidden;
    private final Linear fc1;
    private final Linear fc2;
    private volatile NDArray neuronGate;
    private volatile Consumer<NDArray> fc2InputTap;

    private Mlp(Builder builder) {
        this.hidden = builder.hidden;
        this.fc1 = addChildBlock("fc1", Linear.builder().setUnits(builder.hidden).build());
        this.fc2 = addChildBlock("fc2", Linear.builder().setUnits(builder.dim).build());
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray h = Activation.gelu(fc1.forward(ps, inputs, training).singletonOrThrow());
        NDArray gate = neuronGate;
        if (gate != null) {
            h = h.mul(gate.reshape(gate.getShape().dimension() == 1 ? 1 : h.getShape().get(0), 1, hidden));
        }
        Consumer<NDArray> tap = fc2InputTap;
        if (tap != null) {
            tap.accept(h);
        }
        return fc2.forward(ps, new NDList(h), training);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape in = inputShapes[0];
        fc1.initialize(manager, dataType, in);
        fc2.initialize(manager, dataType, new Shape(in.get(0), in.get(1), hidden));
    }

    /**
     * Multiplies each hidden neuron's activation by a gate: shape (M) for every input alike or (B, M) per input; null
     * (the default) for none. For structured pruning's gate saliency and slicing checks; not used in serving.
     */
    public void setNeuronGate(NDArray gate) {
        this.neuronGate = gate;
    }

    /**
     * Receives fc2's input (B, N, M), the gated GELU activations, on every forward pass; null (the default) for none.
     * Structured pruning's CAP step builds fc2's input Hessian from it on calibration images. Not used in serving.
     * The array lives in the forward pass's manager: copy what is kept.
     */
    public void setFc2InputTap(Consumer<NDArray> tap) {
        this.fc2InputTap = tap;
    }

    public int hidden() {
        return hidden;
    }

    /** Builder: {@code setDim} and {@code setHidden} are required. */
    public static final class Builder {
        private int dim;
        private int hidden;

        public Builder setDim(int dim) {
            this.dim = dim;
            return this;
        }

        public Builder setHidden(int hidden) {
            this.hidden = hidden;
            return this;
        }

        public Mlp build() {
            if (dim < 1 || hidden < 1) {
                throw new IllegalArgumentException("Mlp needs positive dim and hidden, got " + dim + ", " + hidden);
            }
            return new Mlp(this);
        }
    }
}
