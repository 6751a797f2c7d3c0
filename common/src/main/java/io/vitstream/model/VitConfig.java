package io.vitstream.model;

import java.util.ArrayList;
import java.util.List;

/**
 * Full architecture of a ViT for small images; a model is buildable from this alone.
 *
 * @param imageSize input height and width (square)
 * @param channels input channels (1 for grey)
 * @param patchSize patch side; tokens = (imageSize / patchSize)^2 + 1 (CLS)
 * @param stemChannels channels of an optional 3x3 convolutional stem before patchification (0 = plain linear patches);
 *     with {@code stemWidths}, the last layer's width (the channels the patch projection sees)
 * @param stemLayers 3x3 convolution + GELU layers in the stem (at least 1 when there is a stem)
 * @param dim residual (embedding) width, the same in every block
 * @param numClasses classifier outputs
 * @param blocks one entry per transformer block, each with its own head count and MLP width
 * @param stemWidths output channels of each stem layer (a structurally pruned stem differs per layer); null or empty
 *     for {@code stemLayers} layers of {@code stemChannels} each (manifests written before stem pruning)
 */
public record VitConfig(
        int imageSize, int channels, int patchSize, int stemChannels, int stemLayers, int dim, int numClasses,
        List<BlockConfig> blocks, List<Integer> stemWidths) {

    public VitConfig {
        if (stemWidths == null || stemWidths.isEmpty()) {
            if (stemChannels > 0 && stemLayers < 1) {
                stemLayers = 1; // manifests written before stem_layers existed
            }
            if (stemChannels == 0) {
                stemLayers = 0;
            }
            stemWidths = java.util.Collections.nCopies(Math.max(0, stemLayers), stemChannels);
        } else {
            if (stemWidths.stream().anyMatch(w -> w == null || w < 1)) {
                throw new IllegalArgumentException("invalid architecture: stem_widths " + stemWidths
                        + " must all be at least 1");
            }
            int last = stemWidths.get(stemWidths.size() - 1);
            if ((stemLayers != 0 && stemLayers != stemWidths.size()) || (stemChannels != 0 && stemChannels != last)) {
                throw new IllegalArgumentException(String.format("invalid architecture: stem_widths %s disagree with"
                        + " stem_layers=%d and stem_channels=%d", stemWidths, stemLayers, stemChannels));
            }
            stemLayers = stemWidths.size();
            stemChannels = last;
        }
        stemWidths = List.copyOf(stemWidths);
        if (imageSize < 1 || channels < 1 || patchSize < 1 || dim < 1 || numClasses < 2 || stemChannels < 0) {
            throw new IllegalArgumentException(String.format(
                    "invalid architecture: image_size=%d channels=%d patch_size=%d stem_channels=%d dim=%d num_classes=%d",
                    imageSize, channels, patchSize, stemChannels, dim, numClasses));
        }
        if (imageSize % patchSize != 0) {
            throw new IllegalArgumentException(
                    "image_size " + imageSize + " is not a multiple of patch_size " + patchSize);
        }
        if (blocks == null || blocks.isEmpty()) {
            throw new IllegalArgumentException("a ViT needs at least one block");
        }
        blocks = List.copyOf(blocks);
    }

    /** An architecture whose stem layers all have {@code stemChannels} channels. */
    public VitConfig(int imageSize, int channels, int patchSize, int stemChannels, int stemLayers, int dim,
            int numClasses, List<BlockConfig> blocks) {
        this(imageSize, channels, patchSize, stemChannels, stemLayers, dim, numClasses, blocks, null);
    }

    /** The same model with other blocks and stem widths (what structured pruning makes). */
    public VitConfig withShape(List<Integer> stem, List<BlockConfig> newBlocks) {
        return new VitConfig(imageSize, channels, patchSize, 0, 0, dim, numClasses, newBlocks,
                stem.isEmpty() ? null : stem);
    }

    /** An architecture with at most a one-layer stem. */
    public VitConfig(int imageSize, int channels, int patchSize, int stemChannels, int dim, int numClasses,
            List<BlockConfig> blocks) {
        this(imageSize, channels, patchSize, stemChannels, stemChannels > 0 ? 1 : 0, dim, numClasses, blocks);
    }

    /** A model whose blocks all have the same shape. */
    public static VitConfig uniform(
            int imageSize, int channels, int patchSize, int stemChannels, int dim, int depth, int heads, int mlpDim,
            int numClasses) {
        return uniform(imageSize, channels, patchSize, stemChannels, stemChannels > 0 ? 1 : 0, dim, depth, heads,
                mlpDim, numClasses);
    }

    /** A model whose blocks all have the same shape, with a stem of {@code stemLayers} convolutions. */
    public static VitConfig uniform(
            int imageSize, int channels, int patchSize, int stemChannels, int stemLayers, int dim, int depth,
            int heads, int mlpDim, int numClasses) {
        if (depth < 1) {
            throw new IllegalArgumentException("depth must be at least 1, got " + depth);
        }
        if (heads < 1 || dim % heads != 0) {
            throw new IllegalArgumentException("dim " + dim + " is not divisible by heads " + heads);
        }
        List<BlockConfig> blocks = new ArrayList<>();
        for (int i = 0; i < depth; i++) {
            blocks.add(new BlockConfig(heads, dim / heads, mlpDim));
        }
        return new VitConfig(imageSize, channels, patchSize, stemChannels, stemLayers, dim, numClasses, blocks);
    }

    public int depth() {
        return blocks.size();
    }

    public int gridSize() {
        return imageSize / patchSize;
    }

    /** Input channels of stem layer {@code layer}, or of the patch projection for {@code layer == stemLayers()}. */
    public int stemInput(int layer) {
        return layer == 0 ? channels : stemWidths.get(layer - 1);
    }

    public int numPatches() {
        return gridSize() * gridSize();
    }

    /** Patches plus the CLS token. */
    public int numTokens() {
        return numPatches() + 1;
    }
}
