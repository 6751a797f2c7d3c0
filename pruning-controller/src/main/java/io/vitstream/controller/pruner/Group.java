package io.vitstream.controller.pruner;

import io.vitstream.model.BlockConfig;
import io.vitstream.model.FlopCounter;
import io.vitstream.model.VitConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * A structured group that pruning removes as a unit: one attention head, one MLP hidden neuron, a whole block, or
 * one output channel of a stem convolution.
 *
 * @param block index of the block in the parent model; for a stem channel, the index of its stem layer
 * @param index head, neuron or channel index inside the block or stem layer; -1 for a whole block
 */
public record Group(Kind kind, int block, int index) {
    public enum Kind { HEAD, NEURON, BLOCK, STEM }

    /** Stable name, for example {@code block3.head1}, {@code block3.neuron17}, {@code block3}, {@code stem1.channel5}. */
    public String id() {
        return switch (kind) {
            case HEAD -> "block" + block + ".head" + index;
            case NEURON -> "block" + block + ".neuron" + index;
            case BLOCK -> "block" + block;
            case STEM -> "stem" + block + ".channel" + index;
        };
    }

    /**
     * Every group of {@code config}: the stem's channels layer by layer, then block by block its heads, its neurons
     * and the block itself.
     */
    public static List<Group> all(VitConfig config) {
        List<Group> out = new ArrayList<>();
        for (int l = 0; l < config.stemLayers(); l++) {
            for (int ch = 0; ch < config.stemWidths().get(l); ch++) {
                out.add(new Group(Kind.STEM, l, ch));
            }
        }
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
     * row and fc2 column; a block all of it; a stem channel its 3x3 filter at every pixel and its input slice of the
     * next layer (the next stem convolution at every pixel, or the patch projection at every patch).
     */
    public long flops(VitConfig config) {
        long n = config.numTokens();
        long d = config.dim();
        BlockConfig bc = kind == Kind.STEM ? null : config.blocks().get(block); // a stem group's index is its layer
        long dh = bc == null ? 0 : bc.headDim();
        return switch (kind) {
            case HEAD -> 2 * (n * d * 3 * dh + 2 * n * n * dh + n * dh * d);
            case NEURON -> 2 * (2 * n * d);
            case BLOCK -> 2 * FlopCounter.blockMacs(config.dim(), bc, n);
            case STEM -> {
                long pixels = (long) config.imageSize() * config.imageSize();
                long own = pixels * 9 * config.stemInput(block);
                long next = block + 1 < config.stemLayers() ? pixels * 9 * config.stemWidths().get(block + 1)
                        : (long) config.numPatches() * config.patchSize() * config.patchSize() * config.dim();
                yield 2 * (own + next);
            }
        };
    }
}
