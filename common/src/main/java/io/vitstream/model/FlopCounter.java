package io.vitstream.model;

/**
 * FLOPs per image from the architecture and the number of tokens each block sees.
 *
 * <p>Convention: one multiply-add counts as 2 FLOPs (so the figures compare directly with a GFLOP/s rate). Counted:
 * convolutions, every linear layer (QKV, projection, MLP, classifier), the two attention matrix products
 * (Q K^T and A V). Not counted (they are O(N D), small next to the above): biases, LayerNorm, GELU, softmax,
 * residual additions, position embeddings.
 */
public final class FlopCounter {
    private FlopCounter() {}

    /** Dense model: every block sees all tokens. */
    public static long perImage(VitConfig config) {
        int[] tokens = new int[config.depth()];
        java.util.Arrays.fill(tokens, config.numTokens());
        return perImage(config, tokens);
    }

    /**
     * @param tokensPerBlock tokens entering each block (CLS included), one entry per block
     */
    public static long perImage(VitConfig config, int[] tokensPerBlock) {
        if (tokensPerBlock.length != config.depth()) {
            throw new IllegalArgumentException(
                    "need one token count per block: " + config.depth() + " blocks, got " + tokensPerBlock.length);
        }
        return perImage(config, tokensPerBlock, tokensPerBlock);
    }

    /**
     * For token merging inside blocks (ToMe), where a block's MLP sees fewer tokens than its attention.
     *
     * @param attentionTokens tokens entering each block's attention (CLS included)
     * @param mlpTokens tokens entering each block's MLP
     */
    public static long perImage(VitConfig config, int[] attentionTokens, int[] mlpTokens) {
        if (attentionTokens.length != config.depth() || mlpTokens.length != config.depth()) {
            throw new IllegalArgumentException("need one token count per block: " + config.depth() + " blocks, got "
                    + attentionTokens.length + " and " + mlpTokens.length);
        }
        long macs = embeddingMacs(config);
        for (int i = 0; i < config.depth(); i++) {
            macs += attentionMacs(config.dim(), config.blocks().get(i), attentionTokens[i])
                    + mlpMacs(config.dim(), config.blocks().get(i), mlpTokens[i]);
        }
        macs += (long) config.dim() * config.numClasses();
        return 2 * macs;
    }

    /** Multiply-adds of the stem and patch convolutions. */
    public static long embeddingMacs(VitConfig c) {
        long macs = 0;
        for (int i = 0; i < c.stemLayers(); i++) {
            macs += (long) c.imageSize() * c.imageSize() * c.stemWidths().get(i) * 9 * c.stemInput(i);
        }
        macs += (long) c.numPatches() * c.dim() * c.patchSize() * c.patchSize() * c.stemInput(c.stemLayers());
        return macs;
    }

    /** Multiply-adds of one block over {@code n} tokens. */
    public static long blockMacs(int dim, BlockConfig b, long n) {
        return attentionMacs(dim, b, n) + mlpMacs(dim, b, n);
    }

    /** Multiply-adds of a block's attention over {@code n} tokens: QKV, Q K^T, A V, projection. */
    public static long attentionMacs(int dim, BlockConfig b, long n) {
        long a = b.attentionDim();
        long qkv = n * dim * 3 * a;
        long scores = (long) b.heads() * n * n * b.headDim();
        long mix = (long) b.heads() * n * n * b.headDim();
        long proj = n * a * dim;
        return qkv + scores + mix + proj;
    }

    /** Multiply-adds of a block's MLP over {@code n} tokens. */
    public static long mlpMacs(int dim, BlockConfig b, long n) {
        return 2 * n * dim * (long) b.mlpDim();
    }
}
