package io.vitstream.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A Vision Transformer whose blocks each have their own head count and MLP width, built from a {@link VitConfig}
 * alone.
 *
 * <p>Input (B, C, H, W) normalised pixels; output (B, K) logits of the dense path (all tokens). Children:
 * {@code embedding}, {@code block0} .. {@code blockL-1}, {@code norm}, {@code head}, and, for a model with learned
 * token sparsification, {@code predictor0} .. one per sparsifier stage. The stages are public so that
 * {@link io.vitstream.sparsity.SparseForward} runs the same weights with token selection between blocks.
 */
public final class VisionTransformer extends AbstractBlock {
    private final VitConfig config;
    private final TokenEmbedding embedding;
    private final List<TransformerBlock> blocks;
    private final LayerNorm norm;
    private final Linear head;
    private final SparsifierConfig sparsifier;
    private final List<TokenPredictor> predictors;
    private volatile boolean sparseTraining;
    private volatile double sparseTrainingRatio = 1.0;

    private VisionTransformer(Builder builder) {
        this.config = builder.config;
        this.sparsifier = builder.sparsifier;
        this.embedding = addChildBlock("embedding", TokenEmbedding.builder().setConfig(config).build());
        List<TransformerBlock> list = new ArrayList<>();
        for (int i = 0; i < config.depth(); i++) {
            list.add(addChildBlock("block" + i, TransformerBlock.builder()
                    .setDim(config.dim())
                    .setShape(config.blocks().get(i))
                    .build()));
        }
        this.blocks = Collections.unmodifiableList(list);
        this.norm = addChildBlock("norm", LayerNorm.builder().axis(1).optEpsilon(1e-6f).build());
        this.head = addChildBlock("head", Linear.builder().setUnits(config.numClasses()).build());
        List<TokenPredictor> preds = new ArrayList<>();
        if (sparsifier != null && sparsifier.hasPredictors()) {
            for (int s = 0; s < sparsifier.stages().size(); s++) {
                preds.add(addChildBlock("predictor" + s,
                        TokenPredictor.builder().setHidden(sparsifier.predictorHidden()).build()));
            }
        }
        this.predictors = Collections.unmodifiableList(preds);
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Switches the training forward pass to DynamicViT's (Gumbel keep decisions, attention masking): it then returns
     * logits, final tokens (B, N, D) and one keep policy (B, N - 1) per stage. Training goes through DJL's
     * {@code Trainer.forward}, which only calls this block, hence a switch rather than a separate entry point.
     */
    public void setSparseTraining(boolean on, double keepRatio) {
        if (on && predictors.isEmpty()) {
            throw new IllegalArgumentException("sparse training needs a model with token predictors");
        }
        this.sparseTraining = on;
        this.sparseTrainingRatio = keepRatio;
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        if (training && sparseTraining) {
            return SparsePath.installed().train(this, ps, inputs.singletonOrThrow(), sparseTrainingRatio);
        }
        return new NDList(classify(ps, denseTokens(ps, inputs.singletonOrThrow(), training), training));
    }

    /** The dense path up to the final tokens: pixels (B, C, H, W) to tokens (B, N, D) after the last block. */
    public NDArray denseTokens(ParameterStore ps, NDArray pixels, boolean training) {
        NDArray x = embed(ps, pixels, training);
        for (TransformerBlock block : blocks) {
            x = block.forward(ps, new NDList(x), training).get(0);
        }
        return x;
    }

    /** Pixels (B, C, H, W) to tokens (B, N, D). */
    public NDArray embed(ParameterStore ps, NDArray pixels, boolean training) {
        return embedding.forward(ps, new NDList(pixels), training).singletonOrThrow();
    }

    /** Final norm of the CLS token and the classifier: tokens (B, n, D) to logits (B, K). */
    public NDArray classify(ParameterStore ps, NDArray tokens, boolean training) {
        NDArray cls = tokens.get(":, 0, :"); // (B, D)
        NDArray normed = norm.forward(ps, new NDList(cls), training).singletonOrThrow();
        return head.forward(ps, new NDList(normed), training).singletonOrThrow();
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {new Shape(inputShapes[0].get(0), config.numClasses())};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        embedding.initialize(manager, dataType, inputShapes[0]);
        Shape tokens = embedding.getOutputShapes(inputShapes)[0];
        for (TransformerBlock block : blocks) {
            block.initialize(manager, dataType, tokens);
        }
        Shape cls = new Shape(tokens.get(0), config.dim());
        norm.initialize(manager, dataType, cls);
        head.initialize(manager, dataType, cls);
        Shape patches = new Shape(tokens.get(0), config.numPatches(), config.dim());
        for (TokenPredictor p : predictors) {
            p.initialize(manager, dataType, patches, new Shape(tokens.get(0), config.numPatches()),
                    new Shape(tokens.get(0), 1));
        }
    }

    public VitConfig config() {
        return config;
    }

    public TokenEmbedding embedding() {
        return embedding;
    }

    public List<TransformerBlock> blocks() {
        return blocks;
    }

    /** The sparsifier this model was built with, or null for a dense model. */
    public SparsifierConfig sparsifier() {
        return sparsifier;
    }

    /** Learned token predictors, one per sparsifier stage (empty without learned sparsification). */
    public List<TokenPredictor> predictors() {
        return predictors;
    }

    /** Input shape for a batch of {@code batch} images. */
    public Shape inputShape(long batch) {
        return new Shape(batch, config.channels(), config.imageSize(), config.imageSize());
    }

    /** Builder: {@link #setConfig} is required; {@link #optSparsifier} adds token predictors. */
    public static final class Builder {
        private VitConfig config;
        private SparsifierConfig sparsifier;

        public Builder setConfig(VitConfig config) {
            this.config = config;
            return this;
        }

        public Builder optSparsifier(SparsifierConfig sparsifier) {
            this.sparsifier = sparsifier;
            return this;
        }

        public VisionTransformer build() {
            if (config == null) {
                throw new IllegalArgumentException("VisionTransformer needs a VitConfig");
            }
            if (sparsifier != null) {
                sparsifier.validateFor(config.depth());
            }
            return new VisionTransformer(this);
        }
    }
}
