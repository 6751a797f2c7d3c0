package io.vitstream.testing;

import io.vitstream.kafka.KafkaBroker;
import java.util.Map;

/**
 * The Kafka broker an integration test runs against: the embedded single-node KRaft broker (a child JVM from the
 * Maven artifacts, the default), or, when asked with {@code -Dvitstream.test.kafka=testcontainers} (or env
 * {@code VITSTREAM_TEST_KAFKA=testcontainers}) on a machine with a Docker engine, the official Apache Kafka image
 * started by Testcontainers. The same tests run on either; without Docker nothing is skipped, they use the embedded
 * broker. Both have the contract's topics with {@code partitions} partitions on each data topic.
 */
public interface TestBroker extends AutoCloseable {
    /** System property (and, upper-cased with underscores, environment variable) choosing the broker. */
    String PROPERTY = "vitstream.test.kafka";

    String bootstrapServers();

    /** Client settings for this broker (bootstrap servers). */
    Map<String, Object> clientConfig();

    @Override
    void close();

    /** The broker the run asked for, started and ready, with the contract's topics. */
    static TestBroker start(int partitions) {
        String how = System.getProperty(PROPERTY, System.getenv().getOrDefault("VITSTREAM_TEST_KAFKA", "embedded"));
        return switch (how.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "embedded" -> new Embedded(KafkaBroker.start(partitions));
            case "testcontainers" -> ContainerBroker.start(partitions);
            default -> throw new IllegalArgumentException(PROPERTY + " must be embedded or testcontainers, got '"
                    + how + "'");
        };
    }

    /** The embedded broker. */
    record Embedded(KafkaBroker broker) implements TestBroker {
        @Override
        public String bootstrapServers() {
            return broker.bootstrapServers();
        }

        @Override
        public Map<String, Object> clientConfig() {
            return broker.clientConfig();
        }

        @Override
        public void close() {
            broker.close();
        }
    }
}
