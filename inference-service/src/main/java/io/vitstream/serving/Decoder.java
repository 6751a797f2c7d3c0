package io.vitstream.serving;

import io.vitstream.data.InputSpec;
import io.vitstream.kafka.Labels;
import io.vitstream.kafka.Topics;
import io.vitstream.serving.WorkerMetrics.Phase;
import io.vitstream.serving.decode.DecodeException;
import io.vitstream.serving.decode.ImageDecoder;
import io.vitstream.serving.decode.RejectReason;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * The decode stage: a batch of records becomes the accepted inputs' normalised pixels, in the served model's input
 * shape, and the rejected records with the reason each goes to the dead-letter topic. One {@link ImageDecoder} per
 * input size, made on first use. Runs on the loop thread.
 */
final class Decoder {
    /** A record whose image decoded; {@code id} is its key, or a generated one when it had none. */
    record Accepted(ConsumerRecord<String, byte[]> record, String id, Integer label) {}

    /** A record that is sent to the dead-letter topic, and why. */
    record Rejected(ConsumerRecord<String, byte[]> record, String id, RejectReason reason, String detail) {}

    /**
     * A decoded batch: every record taken, the accepted ones in order with their (n x pixels) normalised
     * {@code pixels}, and the rejected ones.
     */
    record Decoded(List<ConsumerRecord<String, byte[]>> records, List<Accepted> accepted, List<Rejected> rejected,
            float[] pixels) {}

    private final long maxBytes;
    private final long maxPixels;
    private final WorkerMetrics metrics;
    private final Map<Integer, ImageDecoder> decoders = new HashMap<>();

    Decoder(long maxBytes, long maxPixels, WorkerMetrics metrics) {
        this.maxBytes = maxBytes;
        this.maxPixels = maxPixels;
        this.metrics = metrics;
    }

    /** Decodes {@code batch} for a model whose input is {@code spec}. A bad input is rejected, never thrown. */
    Decoded decode(List<ConsumerRecord<String, byte[]>> batch, InputSpec spec) {
        long phaseStart = System.nanoTime();
        // The model's input size is its height, as in ServingModel.inputSize().
        ImageDecoder decoder = decoders.computeIfAbsent(spec.height(),
                size -> new ImageDecoder(size, maxBytes, maxPixels));
        List<Accepted> accepted = new ArrayList<>(batch.size());
        List<Rejected> rejected = new ArrayList<>();
        float[] pixels = new float[batch.size() * spec.pixels()];
        for (ConsumerRecord<String, byte[]> r : batch) {
            String id = r.key() != null ? r.key() : generatedId(r);
            try {
                byte[] grey = decoder.decode(r.value(), header(r.headers(), Topics.HEADER_CONTENT_TYPE));
                spec.normalize(grey, 0, pixels, accepted.size() * spec.pixels());
                accepted.add(new Accepted(r, id, label(r.headers())));
            } catch (DecodeException e) {
                rejected.add(new Rejected(r, id, e.reason(), e.getMessage()));
            }
        }
        int n = accepted.size();
        float[] x = n == batch.size() ? pixels : Arrays.copyOf(pixels, n * spec.pixels());
        metrics.phase(Phase.DECODE, System.nanoTime() - phaseStart);
        return new Decoded(batch, accepted, rejected, x);
    }

    private static String header(Headers headers, String name) {
        Header h = headers.lastHeader(name);
        return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    /** The input's label header; a bad one only disables accuracy for this input (the image is still classified). */
    private static Integer label(Headers headers) {
        return Labels.parse(header(headers, Topics.HEADER_LABEL));
    }

    /**
     * The request id of a record without a key: its topic, partition and offset, so that a record read again after
     * an aborted transaction or a rebalance gets the same id, and its one prediction is recognisable.
     */
    static String generatedId(ConsumerRecord<String, byte[]> r) {
        return r.topic() + "-" + r.partition() + "-" + r.offset();
    }
}
