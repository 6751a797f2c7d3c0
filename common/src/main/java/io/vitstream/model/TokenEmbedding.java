package io.vitstream.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.TruncatedNormalInitializer;
import ai.djl.util.PairList;

/**
 * Image to tokens: an optional stem of 3x3 convolutions (GELU, full resolution), a non-overlapping patch projection,
 * a CLS token in front and learned position embeddings.
 *
 * <p>Input (B, C, H, W), output (B, 1 + (H/P)(W/P), D).
 */
public final class TokenEmbedding extends AbstractBlock {
    private final VitConfig config;
    private final java.util.List<Conv2d> stem = new java.util.ArrayList<>();
    private final Conv2d patch;
    private final Parameter clsToken;
    private final Parameter positions;
    // Saliency estimation only: one gate per stem layer, multiplying its channels after the GELU; null in serving.
    private volatile NDArray[] stemGates;

    private TokenEmbedding(Builder builder) {
        this.config = builder.config;
        int p = config.patchSize();
        for (int i = 0; i < config.stemLayers(); i++) {
            // The first layer keeps its historical name so that one-layer-stem weights load unchanged.
            stem.add(addChildBlock(stemName(i), Conv2d.builder()
                    .setKernelShape(new Shape(3, 3))
                    .optPadding(new Shape(1, 1))
                    .setFilters(config.stemWidths().get(i))
                    .build()));
        }
        this.patch = addChildBlock("patch", Conv2d.builder()
                .setKernelShape(new Shape(p, p))
                .optStride(new Shape(p, p))
                .setFilters(config.dim())
                .build());
        this.clsToken = addParameter(Parameter.builder()
                .setName("cls")
                .setType(Parameter.Type.OTHER)
                .optShape(new Shape(1, 1, config.dim()))
                .optInitializer(new TruncatedNormalInitializer(0.02f))
                .build());
        this.positions = addParameter(Parameter.builder()
                .setName("positions")
                .setType(Parameter.Type.OTHER)
                .optShape(new Shape(1, config.numTokens(), config.dim()))
                .optInitializer(new TruncatedNormalInitializer(0.02f))
                .build());
    }

    /**
     * Gates of shape (width) per stem layer multiplying its output channels, for gate saliency (empirical Fisher);
     * null turns them off. Only the estimator sets them, in its own model.
     */
    public void setStemGates(NDArray[] gates) {
        this.stemGates = gates;
    }

    /** Name of stem layer {@code layer} among the embedding's children ({@code stem}, {@code stem1}, ...). */
    public static String stemName(int layer) {
        return layer == 0 ? "stem" : "stem" + layer;
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        NDArray[] gates = stemGates;
        for (int i = 0; i < stem.size(); i++) {
            x = Activation.gelu(stem.get(i).forward(ps, new NDList(x), training).singletonOrThrow());
            if (gates != null && gates[i] != null) {
                x = x.mul(gates[i].reshape(1, -1, 1, 1));
            }
        }
        x = patch.forward(ps, new NDList(x), training).singletonOrThrow(); // (B, D, G, G)
        long batch = x.getShape().get(0);
        x = x.reshape(batch, config.dim(), config.numPatches()).transpose(0, 2, 1); // (B, N, D)
        NDArray cls = ps.getValue(clsToken, x.getDevice(), training);
        // Created from a data-derived array so that it lives in the batch's manager, not the model's.
        NDArray clsRows = x.get(":, :1, :").zerosLike().add(cls);
        x = NDArrays.concat(new NDList(clsRows, x), 1);
        return new NDList(x.add(ps.getValue(positions, x.getDevice(), training)));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {new Shape(inputShapes[0].get(0), config.numTokens(), config.dim())};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape in = inputShapes[0];
        Shape patchIn = in;
        for (Conv2d conv : stem) {
            conv.initialize(manager, dataType, patchIn);
            patchIn = conv.getOutputShapes(new Shape[] {patchIn})[0];
        }
        patch.initialize(manager, dataType, patchIn);
    }

    /** Builder; {@link #setConfig} is required. */
    public static final class Builder {
        private VitConfig config;

        public Builder setConfig(VitConfig config) {
            this.config = config;
            return this;
        }

        public TokenEmbedding build() {
            if (config == null) {
                throw new IllegalArgumentException("TokenEmbedding needs a VitConfig");
            }
            return new TokenEmbedding(this);
        }
    }
}
