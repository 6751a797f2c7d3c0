package io.vitstream.testkit;

import io.vitstream.kafka.Replication;
import io.vitstream.kafka.Topics;
import java.time.Duration;
import java.util.Map;

/**
 * A real single-node KRaft Apache Kafka broker (combined broker + controller) in a child JVM, for tests and the demo:
 * a {@link KafkaCluster} of one node, every replication setting 1. See {@link KafkaCluster} for how it runs (Kafka's
 * own entry points from the {@code kafka_2.13} jars on the class path, which the module that starts it provides).
 *
 * <p>Ports are picked free on 127.0.0.1 before start, the log directory is fresh per start and deleted on
 * {@link #close()}, and the contract's topics ({@link Topics}) are created.
 */
public final class KafkaBroker implements AutoCloseable {
    private final KafkaCluster cluster;

    private KafkaBroker(KafkaCluster cluster) {
        this.cluster = cluster;
    }

    /** Starts a broker with {@code partitions} partitions on each data topic and waits until it serves. */
    public static KafkaBroker start(int partitions) {
        return new KafkaBroker(KafkaCluster.start(1, partitions, Replication.SINGLE));
    }

    /** {@code 127.0.0.1:PORT}. */
    public String bootstrapServers() {
        return cluster.bootstrapServers();
    }

    /** Client settings that reach this broker. */
    public Map<String, Object> clientConfig() {
        return cluster.clientConfig();
    }

    /** Process id of the broker's JVM (benchmarks pin it to cores). */
    public long pid() {
        return cluster.node(1).pid();
    }

    /** CPU time the broker process has used so far (zero where the platform does not report it). */
    public Duration cpuTime() {
        return cluster.node(1).cpuTime();
    }

    /** Stops the broker (SIGTERM, then a hard kill after 30 s) and deletes its directory. */
    @Override
    public void close() {
        cluster.close();
    }
}
