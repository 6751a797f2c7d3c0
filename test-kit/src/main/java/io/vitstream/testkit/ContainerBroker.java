package io.vitstream.testkit;

import io.vitstream.kafka.Topics;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.kafka.KafkaContainer;

/**
 * A single-node Kafka from the official {@code apache/kafka} image, started by Testcontainers (image tag from
 * {@code -Dvitstream.test.kafka.image}, default {@link #IMAGE}), set like the embedded broker (transactions'
 * timed-out aborts checked every second, no implicit topics), with the contract's topics.
 */
final class ContainerBroker implements TestBroker {
    static final String IMAGE = "apache/kafka:4.1.0";

    private final KafkaContainer container;

    private ContainerBroker(KafkaContainer container) {
        this.container = container;
    }

    static ContainerBroker start(int partitions) {
        if (!DockerClientFactory.instance().isDockerAvailable()) {
            throw new IllegalStateException(TestBroker.PROPERTY + "=testcontainers asks for a Docker engine and none"
                    + " is reachable: run without it to use the embedded broker");
        }
        KafkaContainer container = new KafkaContainer(System.getProperty(TestBroker.PROPERTY + ".image", IMAGE))
                .withEnv("KAFKA_TRANSACTION_ABORT_TIMED_OUT_TRANSACTION_CLEANUP_INTERVAL_MS", "1000")
                .withEnv("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
                .withEnv("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0");
        container.start();
        ContainerBroker broker = new ContainerBroker(container);
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG,
                container.getBootstrapServers()))) {
            admin.createTopics(Topics.definitions(partitions, (short) 1)).all().get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            broker.close();
            throw new IllegalStateException("interrupted creating topics", e);
        } catch (ExecutionException e) {
            broker.close();
            throw new IllegalStateException("cannot create the contract's topics: " + e.getCause(), e);
        }
        return broker;
    }

    @Override
    public String bootstrapServers() {
        return container.getBootstrapServers();
    }

    @Override
    public Map<String, Object> clientConfig() {
        return Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, container.getBootstrapServers());
    }

    @Override
    public void close() {
        container.stop();
    }
}
