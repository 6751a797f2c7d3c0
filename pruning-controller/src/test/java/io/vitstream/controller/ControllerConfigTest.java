package io.vitstream.controller;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.kafka.Replication;
import io.vitstream.util.UserError;
import java.nio.file.Path;
import java.util.Map;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How the controller replicates the topics it creates: the brokers' default unless told, and its Streams app alike. */
class ControllerConfigTest {
    @TempDir
    Path tmp;

    @Test
    void replicationIsTheBrokersDefaultUnlessSet() {
        ControllerConfig plain = Fakes.config(tmp, Map.of());
        assertThat(plain.topicReplication()).isEqualTo(Replication.BROKER_DEFAULTS);
        assertThat(Controller.streamsSettings(plain)).containsEntry(StreamsConfig.REPLICATION_FACTOR_CONFIG, -1)
                .doesNotContainKey(StreamsConfig.topicPrefix("min.insync.replicas"));

        ControllerConfig three = Fakes.config(tmp, Map.of("topics.replication", "3"));
        assertThat(three.topicReplication()).isEqualTo(new Replication((short) 3, 2));
        assertThat(Controller.streamsSettings(three)).containsEntry(StreamsConfig.REPLICATION_FACTOR_CONFIG, 3)
                .containsEntry(StreamsConfig.topicPrefix("min.insync.replicas"), "2");

        ControllerConfig strict = Fakes.config(tmp, Map.of("topics.replication", "3", "topics.min.insync.replicas",
                "3", "kafka.replication.factor", "2"));
        assertThat(strict.topicReplication()).isEqualTo(new Replication((short) 3, 3));
        // kafka.* settings still win over what the controller derives.
        assertThat(Controller.streamsSettings(strict)).containsEntry(StreamsConfig.REPLICATION_FACTOR_CONFIG, "2");
    }

    @Test
    void refusesAMinIsrAboveTheFactor() {
        assertThatThrownBy(() -> Fakes.config(tmp, Map.of("topics.replication", "2", "topics.min.insync.replicas",
                "3"))).isInstanceOf(UserError.class).hasMessageContaining("topics.min.insync.replicas: "
                + "min.insync.replicas 3 exceeds the replication factor 2");
        assertThatThrownBy(() -> Fakes.config(tmp, Map.of("topics.replication", "0")))
                .hasMessageContaining("topics.replication must be between 1 and 10, got 0");
    }
}
