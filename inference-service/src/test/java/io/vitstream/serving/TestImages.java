package io.vitstream.serving;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.zip.CRC32;
import javax.imageio.ImageIO;

/** Real encoded images for tests, made with ImageIO, and hand-made malformed ones. */
final class TestImages {
    private TestImages() {}

    /** A colour picture of {@code w x h}: a filled shape whose position depends on {@code seed}. */
    static BufferedImage picture(int w, int h, int seed) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(new Color(20, 30, 40));
        g.fillRect(0, 0, w, h);
        g.setColor(new Color((seed * 53) % 256, (seed * 97) % 256, 200));
        g.fillOval((seed * 7) % (w / 2), (seed * 11) % (h / 2), w / 2, h / 3);
        g.dispose();
        return img;
    }

    static byte[] encode(BufferedImage img, String format) {
        try (ByteArrayOutputStream out = new ByteArrayOutputStream()) {
            BufferedImage src = img;
            if (format.equals("bmp") || format.equals("jpeg")) {
                // These writers want an image without alpha and with a plain RGB layout.
                src = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_3BYTE_BGR);
                src.getGraphics().drawImage(img, 0, 0, null);
            }
            if (!ImageIO.write(src, format, out)) {
                throw new IllegalStateException("no ImageIO writer for " + format);
            }
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] png(int seed) {
        return encode(picture(40, 30, seed), "png");
    }

    static byte[] jpeg(int seed) {
        return encode(picture(64, 48, seed), "jpeg");
    }

    static byte[] bmp(int seed) {
        return encode(picture(28, 28, seed), "bmp");
    }

    static byte[] gif(int seed) {
        return encode(picture(32, 32, seed), "gif");
    }

    /** Raw grey pixels for {@code application/x-gray8}. */
    static byte[] gray8(int w, int h, int seed) {
        byte[] b = new byte[w * h];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) ((i * 31 + seed * 17) & 0xff);
        }
        return b;
    }

    /** A tiny PNG whose header claims {@code w x h} pixels: the shape of a decompression bomb. */
    static byte[] pngBomb(int w, int h) {
        ByteBuffer buf = ByteBuffer.allocate(8 + 25 + 12 + 12);
        buf.put(new byte[] {(byte) 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A});
        ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(w).putInt(h).put((byte) 8).put((byte) 0).put((byte) 0)
                .put((byte) 0).put((byte) 0);
        chunk(buf, "IHDR", ihdr.array());
        chunk(buf, "IDAT", new byte[0]);
        chunk(buf, "IEND", new byte[0]);
        return Arrays.copyOf(buf.array(), buf.position());
    }

    private static void chunk(ByteBuffer buf, String type, byte[] data) {
        buf.putInt(data.length);
        byte[] t = type.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        buf.put(t).put(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        buf.putInt((int) crc.getValue());
    }

    /** A PNG signature followed by garbage where the IHDR should be. */
    static byte[] pngCorruptHeader() {
        byte[] b = png(1);
        for (int i = 8; i < 33; i++) {
            b[i] = (byte) 0xEE;
        }
        return b;
    }

    static byte[] truncated(byte[] image) {
        return Arrays.copyOf(image, image.length / 2);
    }

    static byte[] tiff() {
        return encode(picture(16, 16, 3), "tiff");
    }
}
