package io.vitstream.model;

/**
 * Shape of one transformer block. Each block carries its own numbers so that a structurally pruned model (fewer heads
 * here, a narrower MLP there) is the same class with smaller numbers.
 *
 * @param heads attention heads (at least 1)
 * @param headDim width of each head
 * @param mlpDim hidden width of the MLP (at least 1)
 */
public record BlockConfig(int heads, int headDim, int mlpDim) {
    public BlockConfig {
        if (heads < 1) {
            throw new IllegalArgumentException("a block needs at least one attention head, got " + heads);
        }
        if (headDim < 1) {
            throw new IllegalArgumentException("head_dim must be positive, got " + headDim);
        }
        if (mlpDim < 1) {
            throw new IllegalArgumentException("mlp_dim must be positive, got " + mlpDim);
        }
    }

    /** Width of the concatenated heads (rows of Q, K and V each). */
    public int attentionDim() {
        return heads * headDim;
    }
}
