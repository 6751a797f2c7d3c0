package io.vitstream.testkit;

import java.util.Map;

/**
 * The Kafka broker an integration test runs against: the embedded single-node KRaft broker (a child JVM from the
 * Maven artifacts, the default), or, when asked with {@code -Dvitstream.test.kafka=testcontainers} (or env
 * {@code VITSTREAM_TEST_KAFKA=testcontainers}) on a machine with a Docker engine, the official Apache Kafka image
 * started by Testcontainers. The same tests run on either; without Docker nothing is skipped, they use the embedded
 * broker. Both have the contract's topics with {@code partitions} partitions on each data topic.
 *
 * <p>{@link #startCluster} is always the embedded multi-node cluster (child JVMs whose nodes a test may kill): the
 * Testcontainers Kafka module runs one node.
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

    /**
     * An embedded cluster of {@code nodes} KRaft nodes with {@link io.vitstream.kafka.Replication#defaultFor}
     * (three nodes: replication 3, min ISR 2), started and ready, with the contract's topics.
     */
    static Cluster startCluster(int nodes, int partitions) {
        return new Cluster(KafkaCluster.start(nodes, partitions));
    }

    /** The embedded multi-node cluster; {@link #cluster()} reaches its nodes (kill one, read its log). */
    record Cluster(KafkaCluster cluster) implements TestBroker {
        @Override
        public String bootstrapServers() {
            return cluster.bootstrapServers();
        }

        @Override
        public Map<String, Object> clientConfig() {
            return cluster.clientConfig();
        }

        @Override
        public void close() {
            cluster.close();
        }
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
