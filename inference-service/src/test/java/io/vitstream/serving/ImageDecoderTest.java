package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.data.GreyImages;
import io.vitstream.serving.decode.DecodeException;
import io.vitstream.serving.decode.ImageDecoder;
import io.vitstream.serving.decode.RejectReason;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ImageDecoderTest {
    private final ImageDecoder decoder = new ImageDecoder(28, 10 * 1024 * 1024, 4_000_000);

    @Test
    void sniffsEveryAcceptedFormatWithoutHeaders() throws Exception {
        for (byte[] img : new byte[][] {TestImages.png(1), TestImages.jpeg(2), TestImages.bmp(3), TestImages.gif(4)}) {
            assertThat(decoder.decode(img, null)).hasSize(28 * 28);
        }
    }

    @Test
    void colourPngBecomesTheSameGreyPixelsAsGreyImages() throws Exception {
        var picture = TestImages.picture(40, 30, 5);
        assertThat(decoder.decode(TestImages.encode(picture, "png"), "image/png"))
                .containsExactly(GreyImages.toGrey(picture, 28));
    }

    @Test
    void rawGreyAtModelSizeIsTakenAsIs() throws Exception {
        byte[] raw = TestImages.gray8(28, 28, 1);
        assertThat(decoder.decode(raw, "application/x-gray8; width=28; height=28")).containsExactly(raw);
        assertThat(decoder.decode(TestImages.gray8(56, 10, 1), "application/x-gray8;width=56;height=10"))
                .hasSize(28 * 28);
    }

    @Test
    void eachBadInputHasItsReason() {
        expect(new byte[0], null, RejectReason.EMPTY);
        expect(new byte[11 * 1024 * 1024], null, RejectReason.TOO_LARGE);
        expect("hello, not an image".getBytes(StandardCharsets.UTF_8), null, RejectReason.NOT_AN_IMAGE);
        expect(TestImages.tiff(), null, RejectReason.UNSUPPORTED_FORMAT);
        expect(TestImages.png(1), "image/webp", RejectReason.UNSUPPORTED_FORMAT);
        expect(TestImages.pngBomb(50_000, 50_000), null, RejectReason.TOO_MANY_PIXELS);
        expect(TestImages.pngCorruptHeader(), null, RejectReason.CORRUPT_HEADER);
        expect(TestImages.truncated(TestImages.png(1)), null, RejectReason.TRUNCATED);
        expect(TestImages.truncated(TestImages.jpeg(1)), null, RejectReason.TRUNCATED);
        expect(TestImages.gray8(28, 28, 1), "application/x-gray8; width=28", RejectReason.CORRUPT_HEADER);
        expect(TestImages.gray8(28, 20, 1), "application/x-gray8; width=28; height=28", RejectReason.TRUNCATED);
        expect(TestImages.gray8(28, 28, 1), "application/x-gray8; width=5000; height=5000",
                RejectReason.TOO_MANY_PIXELS);
        expect(TestImages.png(1), "not a media type", RejectReason.CORRUPT_HEADER);
    }

    private void expect(byte[] data, String contentType, RejectReason reason) {
        assertThatThrownBy(() -> decoder.decode(data, contentType))
                .as("%s bytes, content-type %s", data.length, contentType)
                .isInstanceOfSatisfying(DecodeException.class, e -> assertThat(e.reason()).isEqualTo(reason));
    }
}
