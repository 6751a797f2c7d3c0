package io.vitstream.serving.decode;

import java.util.Locale;

/** Why an input went to the dead-letter topic; the {@code error} header and the metrics' {@code reason} tag. */
public enum RejectReason {
    /** No bytes at all. */
    EMPTY,
    /** More bytes than the configured limit. */
    TOO_LARGE,
    /** Width x height above the pixel limit, read from the header before decoding (decompression bomb). */
    TOO_MANY_PIXELS,
    /** Bytes that are no known image format. */
    NOT_AN_IMAGE,
    /** A known image format we do not decode (TIFF, WebP ...), or a content-type we do not accept. */
    UNSUPPORTED_FORMAT,
    /** The image header cannot be read or states impossible values; also bad {@code content-type} parameters. */
    CORRUPT_HEADER,
    /** The pixel data ends early. */
    TRUNCATED,
    /** The header is fine but the pixel data cannot be decoded. */
    CORRUPT_DATA,
    /** The model failed on a batch: its inputs are kept here rather than lost. */
    INFERENCE_ERROR;

    /** Lower-case name used on the wire ({@code too_many_pixels}). */
    public String wire() {
        return name().toLowerCase(Locale.ROOT);
    }
}
