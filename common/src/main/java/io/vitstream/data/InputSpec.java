package io.vitstream.data;

/**
 * What the model expects: {@code size x size} grey pixels, scaled to [0, 1] then standardised with
 * {@code (x - mean) / std}.
 */
public record InputSpec(int height, int width, int channels, float mean, float std) {
    public InputSpec {
        if (height < 1 || width < 1 || channels != 1) {
            throw new IllegalArgumentException("input must be grey (1 channel) with a positive size, got "
                    + height + "x" + width + "x" + channels);
        }
        if (!(std > 0)) {
            throw new IllegalArgumentException("normalisation std must be positive, got " + std);
        }
    }

    public static InputSpec fashionMnist() {
        return new InputSpec(28, 28, 1, FashionMnist.MEAN, FashionMnist.STD);
    }

    public int pixels() {
        return height * width * channels;
    }

    /** Normalises one image of {@link #pixels()} bytes at {@code src[srcOffset]} into {@code dst[dstOffset]}. */
    public void normalize(byte[] src, int srcOffset, float[] dst, int dstOffset) {
        float scale = 1f / (255f * std);
        float shift = mean / std;
        for (int i = 0; i < pixels(); i++) {
            dst[dstOffset + i] = (src[srcOffset + i] & 0xff) * scale - shift;
        }
    }

    /** Normalised floats for images {@code order[from..to)} of {@code images}. */
    public float[] batch(LabeledImages images, int[] order, int from, int to) {
        float[] out = new float[(to - from) * pixels()];
        for (int i = from; i < to; i++) {
            normalize(images.pixels(), order[i] * images.imageBytes(), out, (i - from) * pixels());
        }
        return out;
    }
}
