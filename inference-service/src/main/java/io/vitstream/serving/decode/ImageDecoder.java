package io.vitstream.serving.decode;

import io.vitstream.data.GreyImages;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import javax.imageio.ImageIO;
import javax.imageio.ImageReadParam;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * Bytes from {@code vit.images} to the model's grey {@code size x size} pixels.
 *
 * <p>Accepts PNG, JPEG, BMP and GIF (sniffed by magic bytes, or named by a {@code content-type} header, which wins)
 * and raw 8-bit grey ({@code application/x-gray8; width=W; height=H}). Size and pixel-count limits are checked before
 * any pixel is decoded: the byte limit first, then width x height read from the image header alone, so a small file
 * that expands to gigabytes (a decompression bomb) is refused without allocating its raster. Thread-safe.
 */
public final class ImageDecoder {
    public static final String RAW_GREY = "application/x-gray8";

    private final int size;
    private final long maxBytes;
    private final long maxPixels;

    /**
     * @param size model input side
     * @param maxBytes largest accepted input
     * @param maxPixels largest accepted width x height
     */
    public ImageDecoder(int size, long maxBytes, long maxPixels) {
        if (size < 1 || maxBytes < 1 || maxPixels < 1) {
            throw new IllegalArgumentException("size, byte limit and pixel limit must be positive");
        }
        this.size = size;
        this.maxBytes = maxBytes;
        this.maxPixels = maxPixels;
        ImageIO.setUseCache(false); // decode in memory; no temp files per record
    }

    /** Side of the square grey output. */
    public int size() {
        return size;
    }

    /** Image formats we decode, by ImageIO format name. */
    enum Format {
        PNG("png"), JPEG("jpeg"), BMP("bmp"), GIF("gif");

        final String imageIoName;

        Format(String imageIoName) {
            this.imageIoName = imageIoName;
        }
    }

    /**
     * Grey pixels, row-major, {@code size * size} bytes.
     *
     * @param contentType the record's {@code content-type} header, or null
     */
    public byte[] decode(byte[] data, String contentType) throws DecodeException {
        if (data == null || data.length == 0) {
            throw new DecodeException(RejectReason.EMPTY, "no bytes");
        }
        if (data.length > maxBytes) {
            throw new DecodeException(RejectReason.TOO_LARGE, data.length + " bytes, limit " + maxBytes);
        }
        MediaType type = MediaType.parse(contentType);
        if (type != null && type.is(RAW_GREY)) {
            return rawGrey(data, type);
        }
        Format format = type == null || type.is("application/octet-stream") ? sniff(data) : named(type);
        return decodeImage(data, format);
    }

    private static Format named(MediaType type) throws DecodeException {
        return switch (type.essence()) {
            case "image/png" -> Format.PNG;
            case "image/jpeg", "image/jpg" -> Format.JPEG;
            case "image/bmp", "image/x-bmp", "image/x-ms-bmp" -> Format.BMP;
            case "image/gif" -> Format.GIF;
            default -> throw new DecodeException(RejectReason.UNSUPPORTED_FORMAT,
                    "content-type " + type.essence() + " is not accepted (png, jpeg, bmp, gif, " + RAW_GREY + ")");
        };
    }

    /** The format from the first bytes; known but unsupported formats and non-images are told apart. */
    static Format sniff(byte[] b) throws DecodeException {
        if (startsWith(b, 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A)) {
            return Format.PNG;
        }
        if (startsWith(b, 0xFF, 0xD8, 0xFF)) {
            return Format.JPEG;
        }
        if (startsWith(b, 'G', 'I', 'F', '8') && b.length >= 6 && (b[4] == '7' || b[4] == '9') && b[5] == 'a') {
            return Format.GIF;
        }
        if (startsWith(b, 'B', 'M') && b.length >= 14) {
            return Format.BMP;
        }
        String other = otherImageFormat(b);
        if (other != null) {
            throw new DecodeException(RejectReason.UNSUPPORTED_FORMAT, other + " images are not accepted");
        }
        if (startsWith(b, 'B', 'M')) {
            throw new DecodeException(RejectReason.TRUNCATED, "BMP shorter than its file header");
        }
        throw new DecodeException(RejectReason.NOT_AN_IMAGE, "no PNG, JPEG, BMP or GIF signature in the first bytes");
    }

    private static String otherImageFormat(byte[] b) {
        if (startsWith(b, 'I', 'I', 0x2A, 0x00) || startsWith(b, 'M', 'M', 0x00, 0x2A)) {
            return "TIFF";
        }
        if (startsWith(b, 'R', 'I', 'F', 'F') && b.length >= 12 && b[8] == 'W' && b[9] == 'E' && b[10] == 'B'
                && b[11] == 'P') {
            return "WebP";
        }
        if (startsWith(b, 0x00, 0x00, 0x01, 0x00)) {
            return "ICO";
        }
        if (startsWith(b, '8', 'B', 'P', 'S')) {
            return "PSD";
        }
        if (b.length >= 12 && b[4] == 'f' && b[5] == 't' && b[6] == 'y' && b[7] == 'p') {
            return "HEIF/AVIF";
        }
        if (startsWith(b, 0xFF, 0x0A) || startsWith(b, 0x00, 0x00, 0x00, 0x0C, 'J', 'X', 'L', ' ')) {
            return "JPEG XL";
        }
        return null;
    }

    private byte[] decodeImage(byte[] data, Format format) throws DecodeException {
        Iterator<ImageReader> readers = ImageIO.getImageReadersByFormatName(format.imageIoName);
        if (!readers.hasNext()) {
            throw new DecodeException(RejectReason.UNSUPPORTED_FORMAT, "no " + format + " reader in this runtime");
        }
        ImageReader reader = readers.next();
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(data))) {
            reader.setInput(in, true, true);
            long w;
            long h;
            try {
                w = reader.getWidth(0);
                h = reader.getHeight(0);
            } catch (IOException | RuntimeException e) {
                throw new DecodeException(isTruncated(format, data, e) ? RejectReason.TRUNCATED : RejectReason.CORRUPT_HEADER,
                        format + " header unreadable: " + message(e), e);
            }
            if (w < 1 || h < 1) {
                throw new DecodeException(RejectReason.CORRUPT_HEADER, format + " header says " + w + "x" + h);
            }
            if (w * h > maxPixels) {
                throw new DecodeException(RejectReason.TOO_MANY_PIXELS,
                        format + " " + w + "x" + h + " = " + (w * h) + " pixels, limit " + maxPixels);
            }
            // JPEG and GIF readers report a short file as a warning and return a partly grey image: keep it an error.
            List<String> warnings = new ArrayList<>();
            reader.addIIOReadWarningListener((src, warning) -> warnings.add(warning));
            BufferedImage img;
            try {
                ImageReadParam param = reader.getDefaultReadParam();
                img = reader.read(0, param);
            } catch (IOException | RuntimeException e) {
                throw new DecodeException(isTruncated(format, data, e) ? RejectReason.TRUNCATED : RejectReason.CORRUPT_DATA,
                        format + " data: " + message(e), e);
            }
            if (img == null) {
                throw new DecodeException(RejectReason.CORRUPT_DATA, format + " reader returned no image");
            }
            if (!warnings.isEmpty()) {
                throw new DecodeException(isTruncated(format, data, null) ? RejectReason.TRUNCATED
                        : RejectReason.CORRUPT_DATA, format + " data: " + warnings.get(0));
            }
            return GreyImages.toGrey(img, size);
        } catch (IOException e) {
            throw new DecodeException(RejectReason.CORRUPT_DATA, format + ": " + message(e), e);
        } finally {
            reader.dispose();
        }
    }

    private byte[] rawGrey(byte[] data, MediaType type) throws DecodeException {
        long w = type.intParam("width");
        long h = type.intParam("height");
        if (w < 1 || h < 1) {
            throw new DecodeException(RejectReason.CORRUPT_HEADER,
                    RAW_GREY + " needs positive integer width and height parameters, got " + type);
        }
        if (w * h > maxPixels) {
            throw new DecodeException(RejectReason.TOO_MANY_PIXELS, RAW_GREY + " " + w + "x" + h + " = " + (w * h)
                    + " pixels, limit " + maxPixels);
        }
        if (data.length < w * h) {
            throw new DecodeException(RejectReason.TRUNCATED, RAW_GREY + " " + w + "x" + h + " needs " + (w * h)
                    + " bytes, got " + data.length);
        }
        if (data.length > w * h) {
            throw new DecodeException(RejectReason.CORRUPT_HEADER, RAW_GREY + " " + w + "x" + h + " needs " + (w * h)
                    + " bytes, got " + data.length + " (width/height do not match the data)");
        }
        if (w == size && h == size) {
            return data.clone();
        }
        BufferedImage img = new BufferedImage((int) w, (int) h, BufferedImage.TYPE_BYTE_GRAY);
        img.getRaster().setDataElements(0, 0, (int) w, (int) h, data);
        return GreyImages.toGrey(img, size);
    }

    /**
     * Whether a failure is best explained by missing bytes: the format's end marker is absent (or a BMP is shorter
     * than its own size field), or the reader hit the end of the data.
     */
    private static boolean isTruncated(Format format, byte[] b, Throwable e) {
        int n = b.length;
        boolean complete = switch (format) {
            case PNG -> n >= 12 && b[n - 8] == 'I' && b[n - 7] == 'E' && b[n - 6] == 'N' && b[n - 5] == 'D';
            case JPEG -> n >= 4 && (b[n - 2] & 0xff) == 0xFF && (b[n - 1] & 0xff) == 0xD9;
            case GIF -> b[n - 1] == 0x3B;
            case BMP -> n >= 6 && n >= ((b[2] & 0xffL) | (b[3] & 0xffL) << 8 | (b[4] & 0xffL) << 16 | (b[5] & 0xffL) << 24);
        };
        return !complete || (e != null && hitEnd(e));
    }

    private static boolean hitEnd(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof EOFException || t instanceof ArrayIndexOutOfBoundsException) {
                return true;
            }
            String m = t.getMessage();
            if (m != null && (m.contains("Unexpected end") || m.contains("Premature end") || m.contains("EOF"))) {
                return true;
            }
        }
        return false;
    }

    private static String message(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getMessage() == null) {
            root = root.getCause();
        }
        String m = root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
        return m.replace('\n', ' ');
    }

    private static boolean startsWith(byte[] b, int... magic) {
        if (b.length < magic.length) {
            return false;
        }
        for (int i = 0; i < magic.length; i++) {
            if ((b[i] & 0xff) != magic[i]) {
                return false;
            }
        }
        return true;
    }
}
