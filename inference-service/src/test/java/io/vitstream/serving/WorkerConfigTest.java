package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.util.UserError;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WorkerConfigTest {
    @TempDir
    Path tmp;

    @Test
    void defaultsAndKafkaPassThrough() throws Exception {
        Path key = Files.writeString(tmp.resolve("k.pub"), "x");
        WorkerConfig c = WorkerConfig.parse(Map.of("bootstrap.servers", "h:9092", "model.public.key", key.toString(),
                "kafka.security.protocol", "SSL", "batch.max.size", "16"));
        assertThat(c.batchMaxSize()).isEqualTo(16);
        assertThat(c.batchMaxWaitMs()).isEqualTo(5);
        assertThat(c.inputMaxBytes()).isEqualTo(10L * 1024 * 1024);
        assertThat(c.groupId()).isEqualTo("vitstream-workers");
        assertThat(c.kafka()).containsEntry("security.protocol", "SSL");
        assertThat(c.workerId()).isNotBlank();
    }

    @Test
    void environmentNamesMapToSettings() {
        assertThat(WorkerConfig.fromEnvironment(Map.of("KAFKA_BOOTSTRAP_SERVERS", "b:1", "VITSTREAM_BATCH_MAX_SIZE",
                "8", "VITSTREAM_KAFKA_SASL_MECHANISM", "PLAIN", "VITSTREAM_JAVA_OPTS", "-Xmx1g", "PATH", "/bin")))
                .containsExactlyInAnyOrderEntriesOf(Map.of("bootstrap.servers", "b:1", "batch.max.size", "8",
                        "kafka.sasl.mechanism", "PLAIN"));
    }

    @Test
    void everyInvalidSettingIsNamedInOneError() {
        assertThatThrownBy(() -> WorkerConfig.parse(Map.of("batch.max.size", "0", "batch.max.wait.ms", "soon",
                "model.dir", tmp.resolve("missing").toString(), "http.port", "70000", "worker.id", "a b",
                "batch.size", "3")))
                .isInstanceOf(UserError.class)
                .hasMessageStartingWith("invalid worker configuration: ")
                .hasMessageContaining("bootstrap.servers is required")
                .hasMessageContaining("batch.max.size must be between 1 and 4096, got 0")
                .hasMessageContaining("batch.max.wait.ms must be an integer, got 'soon'")
                .hasMessageContaining("model.dir: " + tmp.resolve("missing") + " does not exist")
                .hasMessageContaining("http.port must be between -1 and 65535")
                .hasMessageContaining("worker.id must be")
                .hasMessageContaining("unknown setting batch.size")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
    }
}
