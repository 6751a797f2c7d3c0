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
        long macs = embeddingMacs(config);
        for (int i = 0; i < config.depth(); i++) {
            macs += blockMacs(config.dim(), config.blocks().get(i), tokensPerBlock[i]);
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
        long a = b.attentionDim();
        long qkv = n * dim * 3 * a;
        long scores = (long) b.heads() * n * n * b.headDim();
        long mix = (long) b.heads() * n * n * b.headDim();
        long proj = n * a * dim;
        long mlp = 2 * n * dim * (long) b.mlpDim();
        return qkv + scores + mix + proj + mlp;
    }
}
