package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.kafka.Topics;
import io.vitstream.testkit.KafkaBroker;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("integration")
class KafkaBrokerTest {
    @Test
    void startsWithTheContractTopicsAndCleansUp() throws Exception {
        java.nio.file.Path dir;
        try (KafkaBroker broker = KafkaBroker.start(3); Admin admin = Admin.create(broker.clientConfig())) {
            assertThat(broker.bootstrapServers()).startsWith("127.0.0.1:");
            // Created before start() returned; the broker's metadata may show them a moment later on a loaded machine.
            TestKafka.await("the contract's topics listed", () -> {
                try {
                    return admin.listTopics().names().get().containsAll(Topics.ALL);
                } catch (Exception e) {
                    return false;
                }
            }, java.time.Duration.ofSeconds(30));
            Map<String, TopicDescription> d = admin.describeTopics(Topics.ALL).allTopicNames().get();
            assertThat(d.get(Topics.IMAGES).partitions()).hasSize(3);
            assertThat(d.get(Topics.CONTROL).partitions()).hasSize(1);
            var res = new ConfigResource(ConfigResource.Type.TOPIC, Topics.MODELS);
            assertThat(admin.describeConfigs(java.util.List.of(res)).all().get().get(res)
                    .get(TopicConfig.CLEANUP_POLICY_CONFIG).value()).isEqualTo("compact");
        }
    }
}
