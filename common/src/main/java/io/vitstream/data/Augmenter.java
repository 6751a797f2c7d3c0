package io.vitstream.data;

import java.util.Random;

/**
 * Light training augmentation on 8-bit grey images: a random translation of up to {@code maxShift} pixels in each
 * direction (zero fill, i.e. pad-and-crop) and a horizontal flip with probability 1/2. Both keep Fashion-MNIST
 * classes intact (garments are left-right symmetric in class).
 */
public final class Augmenter {
    private final int maxShift;
    private final boolean flip;

    public Augmenter(int maxShift, boolean flip) {
        if (maxShift < 0) {
            throw new IllegalArgumentException("maxShift must be >= 0, got " + maxShift);
        }
        this.maxShift = maxShift;
        this.flip = flip;
    }

    /** Writes an augmented copy of the {@code h x w} image at {@code src[off]} into {@code dst} (length h*w). */
    public void apply(byte[] src, int off, int h, int w, byte[] dst, Random rng) {
        int dy = maxShift == 0 ? 0 : rng.nextInt(2 * maxShift + 1) - maxShift;
        int dx = maxShift == 0 ? 0 : rng.nextInt(2 * maxShift + 1) - maxShift;
        boolean mirror = flip && rng.nextBoolean();
        for (int y = 0; y < h; y++) {
            int sy = y - dy;
            for (int x = 0; x < w; x++) {
                int sx0 = x - dx;
                int sx = mirror ? w - 1 - sx0 : sx0;
                dst[y * w + x] = (sy >= 0 && sy < h && sx0 >= 0 && sx0 < w) ? src[off + sy * w + sx] : 0;
            }
        }
    }
}
