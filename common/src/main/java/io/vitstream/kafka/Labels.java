package io.vitstream.kafka;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * A class label on the wire: decimal text in ASCII/UTF-8 ({@code "7"}, surrounding white space tolerated). It is the
 * value of {@link Topics#LABELS} and of the {@link Topics#HEADER_LABEL} header of {@link Topics#IMAGES}, so one
 * encoding serves both; any client (kcat, a script) can write it. Kafka's 4-byte binary IntegerSerializer is not
 * accepted: text is what the producers here have always written, and one encoding keeps the contract unambiguous.
 */
public final class Labels implements Serde<Integer>, Serializer<Integer>, Deserializer<Integer> {
    /** The serde of {@link Topics#LABELS} values: a value that is not an integer fails with SerializationException. */
    public static final Labels SERDE = new Labels();

    private Labels() {}

    /** The wire bytes of {@code label}. */
    public static byte[] encode(int label) {
        return Integer.toString(label).getBytes(StandardCharsets.US_ASCII);
    }

    /** The label in {@code text}, or null when it is absent or not an integer. */
    public static Integer parse(String text) {
        if (text == null) {
            return null;
        }
        try {
            return Integer.valueOf(text.trim());
        } catch (NumberFormatException e) {
            return null;
        }
    }

    @Override
    public byte[] serialize(String topic, Integer label) {
        return label == null ? null : encode(label);
    }

    @Override
    public Integer deserialize(String topic, byte[] data) {
        if (data == null) {
            return null;
        }
        Integer label = parse(new String(data, StandardCharsets.UTF_8));
        if (label == null) {
            String shown = new String(data, 0, Math.min(data.length, 40), StandardCharsets.UTF_8);
            throw new SerializationException("not a label (decimal integer text) on " + topic + ": '" + shown + "'");
        }
        return label;
    }

    @Override
    public void configure(Map<String, ?> configs, boolean isKey) {}

    @Override
    public void close() {}

    @Override
    public Serializer<Integer> serializer() {
        return this;
    }

    @Override
    public Deserializer<Integer> deserializer() {
        return this;
    }
}
