package io.vitstream.data;

import java.util.List;

/**
 * Grey 8-bit images of one size with integer labels, stored densely ({@code count * height * width} bytes).
 *
 * @param classNames index = label
 */
public record LabeledImages(byte[] pixels, int[] labels, int height, int width, List<String> classNames) {
    public LabeledImages {
        if ((long) labels.length * height * width != pixels.length) {
            throw new IllegalArgumentException("pixel buffer does not hold " + labels.length + " images of "
                    + height + "x" + width);
        }
        classNames = List.copyOf(classNames);
    }

    public int count() {
        return labels.length;
    }

    public int imageBytes() {
        return height * width;
    }

    /** Image {@code idx} as PNG bytes (8-bit grey), as a producer would send it to {@code vit.images}. */
    public byte[] png(int idx) {
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(width, height,
                java.awt.image.BufferedImage.TYPE_BYTE_GRAY);
        img.getRaster().setDataElements(0, 0, width, height,
                java.util.Arrays.copyOfRange(pixels, idx * imageBytes(), (idx + 1) * imageBytes()));
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try {
            javax.imageio.ImageIO.write(img, "png", bytes);
        } catch (java.io.IOException e) {
            throw new IllegalStateException("PNG encoding in memory failed", e);
        }
        return bytes.toByteArray();
    }

    /** The first {@code n} images (or all, if fewer). */
    public LabeledImages limit(int n) {
        if (n >= count()) {
            return this;
        }
        return slice(0, n);
    }

    /** Images {@code [from, to)}. */
    public LabeledImages slice(int from, int to) {
        if (from < 0 || to > count() || from > to) {
            throw new IllegalArgumentException("slice [" + from + ", " + to + ") outside 0.." + count());
        }
        byte[] px = java.util.Arrays.copyOfRange(pixels, from * imageBytes(), to * imageBytes());
        int[] lb = java.util.Arrays.copyOfRange(labels, from, to);
        return new LabeledImages(px, lb, height, width, classNames);
    }
}
