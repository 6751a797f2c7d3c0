package io.vitstream.controller.state;

import io.vitstream.controller.policy.Decision;
import io.vitstream.kafka.JsonSerde;
import io.vitstream.util.Json;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes the controller's durable records ({@link ControllerTopics}) with one idempotent producer, and reads the
 * decision history back at start. Writes wait for the broker's acknowledgement: the record is durable before the
 * controller goes on.
 */
public final class StateStore implements StateWriter, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StateStore.class);
    private static final long SEND_TIMEOUT_S = 30;

    private final Map<String, Object> clientSettings;
    private final KafkaProducer<String, byte[]> producer;

    public StateStore(Map<String, Object> clientSettings) {
        this.clientSettings = Map.copyOf(clientSettings);
        Map<String, Object> p = new HashMap<>(clientSettings);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "vitstream-controller-state");
        this.producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
    }

    /** Replaces the durable record {@code key} of {@link ControllerTopics#STATE} with {@code value} as JSON. */
    @Override
    public void put(String key, Object value) {
        send(new ProducerRecord<>(ControllerTopics.STATE, key, JsonSerde.bytes(value)));
    }

    /** Appends a decision to {@link ControllerTopics#DECISIONS}. */
    public void append(Decision d) {
        send(new ProducerRecord<>(ControllerTopics.DECISIONS, d.rule().id(), JsonSerde.bytes(d)));
    }

    private void send(ProducerRecord<String, byte[]> r) {
        try {
            producer.send(r).get(SEND_TIMEOUT_S, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while writing " + r.topic(), e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot write " + r.key() + " to " + r.topic() + ": " + e.getMessage(), e);
        }
    }

    /** Parses a durable record read by the follower, or null (logged) when it is not what it should be. */
    public static <T> T parse(byte[] json, Class<T> type, String key) {
        if (json == null) {
            return null;
        }
        try {
            return Json.MAPPER.readValue(json, type);
        } catch (IOException e) {
            log.warn("ignoring the stored {} record: {}", key, e.getMessage().lines().findFirst().orElse(""));
            return null;
        }
    }

    /** The newest {@code n} decisions on {@link ControllerTopics#DECISIONS}, oldest first. */
    public List<Decision> lastDecisions(int n) {
        Map<String, Object> c = new HashMap<>(clientSettings);
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        c.put(ConsumerConfig.CLIENT_ID_CONFIG, "vitstream-controller-history");
        c.remove(ConsumerConfig.GROUP_ID_CONFIG);
        List<Decision> out = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(c, new StringDeserializer(),
                new ByteArrayDeserializer())) {
            TopicPartition tp = new TopicPartition(ControllerTopics.DECISIONS, 0);
            consumer.assign(List.of(tp));
            long end = consumer.endOffsets(List.of(tp)).get(tp);
            long begin = consumer.beginningOffsets(List.of(tp)).get(tp);
            consumer.seek(tp, Math.max(begin, end - n));
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (consumer.position(tp) < end && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    Decision d = parse(r.value(), Decision.class, "decision");
                    if (d != null) {
                        out.add(d);
                    }
                }
            }
        }
        return out.subList(Math.max(0, out.size() - n), out.size());
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(10));
    }
}
