package io.vitstream.model;

import java.util.ArrayList;
import java.util.List;

/**
 * Full architecture of a ViT for small images; a model is buildable from this alone.
 *
 * @param imageSize input height and width (square)
 * @param channels input channels (1 for grey)
 * @param patchSize patch side; tokens = (imageSize / patchSize)^2 + 1 (CLS)
 * @param stemChannels channels of an optional 3x3 convolutional stem before patchification (0 = plain linear patches)
 * @param stemLayers 3x3 convolution + GELU layers in the stem (at least 1 when there is a stem)
 * @param dim residual (embedding) width, the same in every block
 * @param numClasses classifier outputs
 * @param blocks one entry per transformer block, each with its own head count and MLP width
 */
public record VitConfig(
        int imageSize, int channels, int patchSize, int stemChannels, int stemLayers, int dim, int numClasses,
        List<BlockConfig> blocks) {

    public VitConfig {
        if (stemChannels > 0 && stemLayers < 1) {
            stemLayers = 1; // manifests written before stem_layers existed
        }
        if (stemChannels == 0) {
            stemLayers = 0;
        }
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

    public int numPatches() {
        return gridSize() * gridSize();
    }

    /** Patches plus the CLS token. */
    public int numTokens() {
        return numPatches() + 1;
    }
}
