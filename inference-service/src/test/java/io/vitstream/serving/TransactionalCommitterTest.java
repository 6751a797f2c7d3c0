package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.kafka.Topics;
import io.vitstream.serving.decode.RejectReason;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

/** What can be checked without a broker: the dead letter. The transactions are checked in the integration tests. */
class TransactionalCommitterTest {
    private static ConsumerRecord<String, byte[]> record(String key, byte[] value, RecordHeaders headers) {
        return new ConsumerRecord<>(Topics.IMAGES, 2, 40, 0L, TimestampType.CREATE_TIME, 0, 0, key, value, headers,
                Optional.empty());
    }

    private static String header(ProducerRecord<String, byte[]> r, String name) {
        var h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    @Test
    void aDeadLetterCarriesTheOriginalKeyBytesAndHeadersWithOneErrorHeader() {
        RecordHeaders h = new RecordHeaders();
        h.add("trace-id", "t-1".getBytes(StandardCharsets.UTF_8));
        h.add(Topics.HEADER_ERROR, "forged".getBytes(StandardCharsets.UTF_8));
        byte[] bytes = {1, 2, 3};
        var rejected = new Decoder.Rejected(record("req-9", bytes, h), "req-9", RejectReason.TRUNCATED, "ends early");

        ProducerRecord<String, byte[]> dl = TransactionalCommitter.deadLetter(rejected);

        assertThat(dl.topic()).isEqualTo(Topics.DLQ);
        assertThat(dl.key()).isEqualTo("req-9");
        assertThat(dl.value()).isSameAs(bytes);
        assertThat(header(dl, "trace-id")).isEqualTo("t-1");
        assertThat(dl.headers().headers(Topics.HEADER_ERROR)).hasSize(1);
        assertThat(header(dl, Topics.HEADER_ERROR)).isEqualTo(RejectReason.TRUNCATED.wire());
        assertThat(header(dl, Topics.HEADER_ERROR_DETAIL)).isEqualTo("ends early");
        assertThat(header(dl, Topics.HEADER_REQUEST_ID)).isNull();
        assertThat(h.headers(Topics.HEADER_ERROR)).as("the consumed record is left as it was").hasSize(1);
        assertThat(header(dl, Topics.HEADER_ERROR)).isNotEqualTo("forged");
    }

    @Test
    void aDeadLetterWithoutKeyNamesTheGeneratedRequestId() {
        var rejected = new Decoder.Rejected(record(null, new byte[0], new RecordHeaders()), "gen-1",
                RejectReason.EMPTY, "no bytes");

        ProducerRecord<String, byte[]> dl = TransactionalCommitter.deadLetter(rejected);

        assertThat(dl.key()).isNull();
        assertThat(header(dl, Topics.HEADER_REQUEST_ID)).isEqualTo("gen-1");
    }
}
