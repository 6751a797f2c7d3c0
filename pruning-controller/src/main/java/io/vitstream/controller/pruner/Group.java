package io.vitstream.controller.pruner;

import io.vitstream.model.BlockConfig;
import io.vitstream.model.FlopCounter;
import io.vitstream.model.VitConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * A structured group that pruning removes as a unit: one attention head, one MLP hidden neuron, or a whole block.
 *
 * @param block index of the block in the parent model
 * @param index head or neuron index inside the block; -1 for a whole block
 */
public record Group(Kind kind, int block, int index) {
    public enum Kind { HEAD, NEURON, BLOCK }

    /** Stable name, for example {@code block3.head1}, {@code block3.neuron17}, {@code block3}. */
    public String id() {
        return switch (kind) {
            case HEAD -> "block" + block + ".head" + index;
            case NEURON -> "block" + block + ".neuron" + index;
            case BLOCK -> "block" + block;
        };
    }

    /** Every group of {@code config}, block by block: its heads, its neurons, then the block itself. */
    public static List<Group> all(VitConfig config) {
        List<Group> out = new ArrayList<>();
        for (int b = 0; b < config.depth(); b++) {
            BlockConfig bc = config.blocks().get(b);
            for (int h = 0; h < bc.heads(); h++) {
                out.add(new Group(Kind.HEAD, b, h));
            }
            for (int j = 0; j < bc.mlpDim(); j++) {
                out.add(new Group(Kind.NEURON, b, j));
            }
            out.add(new Group(Kind.BLOCK, b, -1));
        }
        return out;
    }

    /**
     * FLOPs per image this group costs in the dense model (all tokens; 2 per multiply-add, as {@link FlopCounter}):
     * a head its Q, K, V rows, its share of both attention products and its projection columns; a neuron its fc1
     * row and fc2 column; a block all of it.
     */
    public long flops(VitConfig config) {
        long n = config.numTokens();
        long d = config.dim();
        BlockConfig bc = config.blocks().get(block);
        long dh = bc.headDim();
        return switch (kind) {
            case HEAD -> 2 * (n * d * 3 * dh + 2 * n * n * dh + n * dh * d);
            case NEURON -> 2 * (2 * n * d);
            case BLOCK -> 2 * FlopCounter.blockMacs(config.dim(), bc, n);
        };
    }
}
