package io.vitstream.data;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;

/** Conversion of any decoded image to the model's input: 8-bit grey, square, bilinear-resized. */
public final class GreyImages {
    private GreyImages() {}

    /** Grey (luma) pixels of {@code img} resized to {@code size x size}, row-major. */
    public static byte[] toGrey(BufferedImage img, int size) {
        byte[] out = new byte[size * size];
        if (img.getType() == BufferedImage.TYPE_BYTE_GRAY && img.getWidth() == size && img.getHeight() == size) {
            // Already the model's input (a Fashion-MNIST PNG): what drawImage would copy, without a Graphics2D per image.
            img.getRaster().getDataElements(0, 0, size, size, out);
            return out;
        }
        BufferedImage grey = new BufferedImage(size, size, BufferedImage.TYPE_BYTE_GRAY);
        Graphics2D g = grey.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
            g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
            g.drawImage(img, 0, 0, size, size, null);
        } finally {
            g.dispose();
        }
        grey.getRaster().getDataElements(0, 0, size, size, out);
        return out;
    }
}
