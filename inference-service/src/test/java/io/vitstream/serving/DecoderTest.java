package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vitstream.data.GreyImages;
import io.vitstream.data.InputSpec;
import io.vitstream.kafka.Topics;
import io.vitstream.serving.decode.RejectReason;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

class DecoderTest {
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final WorkerMetrics metrics = new WorkerMetrics();
    private final Decoder decoder = new Decoder(10 * 1024 * 1024, 4_000_000, metrics);
    private final InputSpec spec = InputSpec.fashionMnist();

    DecoderTest() {
        metrics.bindTo(registry);
    }

    private static ConsumerRecord<String, byte[]> record(long offset, String key, byte[] value, String... headers) {
        RecordHeaders h = new RecordHeaders();
        for (int i = 0; i < headers.length; i += 2) {
            h.add(headers[i], headers[i + 1].getBytes(StandardCharsets.UTF_8));
        }
        return new ConsumerRecord<>("vit.images", 0, offset, 0L, TimestampType.CREATE_TIME, 0, 0, key, value, h,
                Optional.empty());
    }

    private float[] normalised(byte[] grey) {
        float[] out = new float[spec.pixels()];
        spec.normalize(grey, 0, out, 0);
        return out;
    }

    @Test
    void imagesAreAcceptedInOrderAsNormalisedPixelsAndGarbageIsRejected() {
        var a = TestImages.picture(40, 30, 1);
        var b = TestImages.picture(40, 30, 2);
        List<ConsumerRecord<String, byte[]>> batch = List.of(
                record(0, "a", TestImages.encode(a, "png"), Topics.HEADER_LABEL, "3"),
                record(1, "junk", "hello, not an image".getBytes(StandardCharsets.UTF_8)),
                record(2, "b", TestImages.encode(b, "png"), Topics.HEADER_CONTENT_TYPE, "image/png"));

        Decoder.Decoded d = decoder.decode(batch, spec);

        assertThat(d.records()).isEqualTo(batch);
        assertThat(d.accepted()).extracting(Decoder.Accepted::id).containsExactly("a", "b");
        assertThat(d.accepted()).extracting(Decoder.Accepted::label).containsExactly(3, null);
        assertThat(d.pixels()).hasSize(2 * spec.pixels());
        assertThat(Arrays.copyOfRange(d.pixels(), 0, spec.pixels())).containsExactly(normalised(GreyImages.toGrey(a, 28)));
        assertThat(Arrays.copyOfRange(d.pixels(), spec.pixels(), 2 * spec.pixels()))
                .containsExactly(normalised(GreyImages.toGrey(b, 28)));
        assertThat(d.rejected()).singleElement().satisfies(r -> {
            assertThat(r.id()).isEqualTo("junk");
            assertThat(r.record().offset()).isEqualTo(1);
            assertThat(r.reason()).isEqualTo(RejectReason.NOT_AN_IMAGE);
            assertThat(r.detail()).isNotBlank();
        });
        assertThat(registry.get("inference.batch.phase").tag("phase", "decode").timer().totalTime(
                java.util.concurrent.TimeUnit.NANOSECONDS)).isPositive();
    }

    @Test
    void aRecordWithoutKeyGetsAGeneratedIdAndABadLabelOnlyLosesTheLabel() {
        Decoder.Decoded d = decoder.decode(List.of(record(0, null, TestImages.png(1), Topics.HEADER_LABEL, "cat"),
                record(1, null, new byte[0])), spec);

        assertThat(d.accepted()).singleElement().satisfies(a -> {
            assertThat(a.id()).isEqualTo(Decoder.generatedId(a.record()));
            assertThat(a.label()).isNull();
        });
        assertThat(d.rejected()).singleElement().satisfies(r -> {
            assertThat(r.id()).isEqualTo(Decoder.generatedId(r.record())).isNotEqualTo(d.accepted().get(0).id());
            assertThat(r.reason()).isEqualTo(RejectReason.EMPTY);
        });
        // The same record read again (after an abort) gets the same id: its prediction stays recognisable.
        Decoder.Decoded again = decoder.decode(List.of(record(0, null, TestImages.png(1))), spec);
        assertThat(again.accepted().get(0).id()).isEqualTo(d.accepted().get(0).id()).isEqualTo("vit.images-0-0");
    }

    @Test
    void eachInputSizeGetsItsOwnDecoder() {
        InputSpec small = new InputSpec(16, 16, 1, 0.5f, 0.25f);
        var picture = TestImages.picture(40, 30, 4);
        byte[] png = TestImages.encode(picture, "png");

        float[] at16 = decoder.decode(List.of(record(0, "x", png)), small).pixels();
        float[] at28 = decoder.decode(List.of(record(0, "x", png)), spec).pixels();

        assertThat(at16).hasSize(16 * 16);
        float[] expected16 = new float[16 * 16];
        small.normalize(GreyImages.toGrey(picture, 16), 0, expected16, 0);
        assertThat(at16).containsExactly(expected16);
        assertThat(at28).containsExactly(normalised(GreyImages.toGrey(picture, 28)));
    }

    @Test
    void aBatchWithNothingAcceptedHasNoPixels() {
        Decoder.Decoded d = decoder.decode(List.of(record(0, "x", TestImages.pngCorruptHeader())), spec);
        assertThat(d.accepted()).isEmpty();
        assertThat(d.pixels()).isEmpty();
        assertThat(d.rejected()).extracting(Decoder.Rejected::reason).containsExactly(RejectReason.CORRUPT_HEADER);
    }
}
