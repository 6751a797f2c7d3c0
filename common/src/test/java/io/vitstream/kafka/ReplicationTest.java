package io.vitstream.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.Test;

/** Replication settings: the defaults per cluster size, what is refused, and how topics carry them. */
class ReplicationTest {
    @Test
    void oneNodeIsOneReplicaAndThreeNodesAreThreeWithMinIsrTwo() {
        assertThat(Replication.defaultFor(1)).isEqualTo(Replication.SINGLE);
        assertThat(Replication.defaultFor(2)).isEqualTo(new Replication((short) 2, 1));
        assertThat(Replication.defaultFor(3)).isEqualTo(new Replication((short) 3, 2));
        assertThat(Replication.defaultFor(5)).isEqualTo(new Replication((short) 3, 2));
        assertThat(Replication.of(4)).isEqualTo(new Replication((short) 4, 2));
    }

    @Test
    void refusesAMinIsrNoWriteCouldMeet() {
        assertThatThrownBy(() -> new Replication((short) 3, 4)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("min.insync.replicas 4 exceeds the replication factor 3: no write could ever be"
                        + " acknowledged");
        assertThatThrownBy(() -> new Replication((short) 0, 1)).hasMessageContaining("at least 1, got 0");
        assertThatThrownBy(() -> new Replication((short) 3, 0)).hasMessageContaining("at least 1, got 0");
        assertThatThrownBy(() -> Replication.defaultFor(0)).hasMessageContaining("at least one node");
        // The brokers' default for the factor: any explicit min ISR is the brokers' to check.
        assertThat(new Replication((short) Replication.BROKER_DEFAULT, 2).topicConfigs())
                .containsEntry(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, "2");
    }

    @Test
    void contractTopicsCarryFactorAndMinIsrOrLeaveThemToTheBrokers() {
        for (NewTopic t : Topics.definitions(6, new Replication((short) 3, 2))) {
            assertThat(t.replicationFactor()).as(t.name()).isEqualTo((short) 3);
            assertThat(t.configs()).as(t.name()).containsEntry(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, "2");
        }
        NewTopic images = Topics.definitions(6, new Replication((short) 3, 2)).get(0);
        assertThat(images.name()).isEqualTo(Topics.IMAGES);
        assertThat(images.numPartitions()).isEqualTo(6);
        assertThat(images.configs()).containsEntry(TopicConfig.MAX_MESSAGE_BYTES_CONFIG,
                String.valueOf(Topics.MAX_IMAGE_RECORD_BYTES));
        for (NewTopic t : Topics.definitions(6, Replication.BROKER_DEFAULTS)) {
            // Sent as "not said" (-1): the cluster's default.replication.factor and min.insync.replicas apply.
            assertThat(t.replicationFactor()).as(t.name()).isEqualTo((short) -1);
            assertThat(t.configs()).as(t.name()).doesNotContainKey(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG);
        }
        // The short form stays what it was: a factor and no topic-level min ISR.
        assertThat(Topics.definitions(2, (short) 1)).allSatisfy(t -> {
            assertThat(t.replicationFactor()).isEqualTo((short) 1);
            assertThat(t.configs() == null ? Map.of() : t.configs())
                    .doesNotContainKey(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG);
        });
        assertThat(new Replication((short) 3, 2)).hasToString("3 replicas, min ISR 2");
    }
}
