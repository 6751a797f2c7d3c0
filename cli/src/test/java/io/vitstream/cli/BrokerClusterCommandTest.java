package io.vitstream.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.kafka.Topics;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code vitstream broker --nodes 3} as a user runs it, in a JVM of its own: it prints the bootstrap list and each
 * node's pid; every topic, the internal ones included, has three replicas and min ISR 2; acknowledged writes go on
 * with one node killed and stop with two; and when the command is stopped (SIGTERM, as Ctrl-C) no node outlives it.
 */
@Tag("integration")
class BrokerClusterCommandTest {
    private static final Pattern NODE = Pattern.compile("node (\\d) (127\\.0\\.0\\.1:\\d+) pid (\\d+) log (.+)");

    @Test
    void threeNodesReplicateEverythingSurviveOneLossStopWritesAtTwoAndDieWithTheCommand() throws Exception {
        Process cli = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-cp", System.getProperty("java.class.path"), Main.class.getName(), "broker", "--nodes",
                "3", "--partitions", "2").redirectErrorStream(true).start();
        List<Long> pids = new ArrayList<>();
        try {
            BlockingQueue<String> lines = new LinkedBlockingQueue<>();
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(cli.getInputStream(),
                        StandardCharsets.UTF_8))) {
                    for (String l = r.readLine(); l != null; l = r.readLine()) {
                        lines.add(l);
                    }
                } catch (java.io.IOException ignored) {
                    // The process ended.
                }
            }, "broker-cli-output");
            reader.setDaemon(true);
            reader.start();
            String bootstrap = null;
            List<String> out = new ArrayList<>();
            while (out.isEmpty() || !out.get(out.size() - 1).startsWith("topics: ")) {
                String l = lines.poll(300, TimeUnit.SECONDS); // generous: start-up on two busy cores
                assertThat(l).as("output so far: %s", out).isNotNull();
                out.add(l);
                if (l.startsWith("bootstrap ")) {
                    bootstrap = l.substring("bootstrap ".length());
                }
                Matcher m = NODE.matcher(l);
                if (m.matches()) {
                    pids.add(Long.parseLong(m.group(3)));
                    assertThat(Path.of(m.group(4))).isRegularFile();
                }
            }
            assertThat(bootstrap).isNotNull();
            assertThat(bootstrap.split(",")).hasSize(3).allMatch(a -> a.startsWith("127.0.0.1:"));
            assertThat(pids).hasSize(3).doesNotHaveDuplicates();
            assertThat(out.get(out.size() - 1)).isEqualTo("topics: 3 replicas, min ISR 2 (the contract's and the"
                    + " internal ones)");

            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
                assertThat(admin.describeMetadataQuorum().quorumInfo().get().voters()).hasSize(3);
                Map<String, TopicDescription> topics = admin.describeTopics(Topics.ALL).allTopicNames().get();
                assertThat(topics.get(Topics.IMAGES).partitions()).hasSize(2);
                topics.values().forEach(d -> d.partitions().forEach(p ->
                        assertThat(p.replicas()).as(d.name()).hasSize(3)));
                var images = new ConfigResource(ConfigResource.Type.TOPIC, Topics.IMAGES);
                assertThat(admin.describeConfigs(List.of(images)).all().get().get(images)
                        .get(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG).value()).isEqualTo("2");
                var node1 = new ConfigResource(ConfigResource.Type.BROKER, "1");
                Config broker = admin.describeConfigs(List.of(node1)).all().get().get(node1);
                assertThat(broker.get("offsets.topic.replication.factor").value()).isEqualTo("3");
                assertThat(broker.get("transaction.state.log.replication.factor").value()).isEqualTo("3");
                assertThat(broker.get("transaction.state.log.min.isr").value()).isEqualTo("2");
                assertThat(broker.get("default.replication.factor").value()).isEqualTo("3");
                assertThat(broker.get("min.insync.replicas").value()).isEqualTo("2");
            }

            // One node killed by the pid the command printed: acknowledged (acks=all) writes go on.
            ProcessHandle.of(pids.get(0)).orElseThrow().destroyForcibly();
            KafkaProducer<String, String> oneDown = producer(bootstrap, Duration.ofSeconds(60));
            try {
                // (Within the fail-over: the node is fenced and its leaderships moved some seconds after the kill.)
                oneDown.send(new ProducerRecord<>(Topics.LABELS, "one-down", "3")).get(90, TimeUnit.SECONDS);
            } finally {
                oneDown.close(Duration.ofSeconds(5));
            }
            // A second one: no write is acknowledged that only one replica holds. It fails (NotEnoughReplicas, its
            // delivery timeout) or, when the producer cannot even reach a leader, is never acknowledged at all.
            ProcessHandle.of(pids.get(1)).orElseThrow().destroyForcibly();
            KafkaProducer<String, String> twoDown = producer(bootstrap, Duration.ofSeconds(8));
            try {
                assertThatThrownBy(() -> twoDown.send(new ProducerRecord<>(Topics.LABELS, "two-down", "4"))
                        .get(60, TimeUnit.SECONDS)).isInstanceOfAny(ExecutionException.class,
                                org.apache.kafka.common.errors.TimeoutException.class,
                                java.util.concurrent.TimeoutException.class);
            } finally {
                // A bounded close: with no leader to talk to, an unbounded one waits for ever.
                twoDown.close(Duration.ofSeconds(5));
            }

            // SIGTERM, as Ctrl-C: the command exits and takes the last node with it.
            cli.destroy();
            assertThat(cli.waitFor(60, TimeUnit.SECONDS)).as("the command exits").isTrue();
            for (long pid : pids) {
                ProcessHandle.of(pid).ifPresent(h -> h.onExit().orTimeout(30, TimeUnit.SECONDS).join());
                assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).as("node pid %d", pid)
                        .isFalse();
            }
        } finally {
            cli.destroyForcibly();
            for (long pid : pids) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
    }

    /** acks=all (what a transactional producer implies), giving up after {@code delivery}. */
    private static KafkaProducer<String, String> producer(String bootstrap, Duration delivery) {
        int ms = (int) delivery.toMillis();
        return new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ProducerConfig.ACKS_CONFIG, "all", ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, Math.min(ms, 3000),
                ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, ms, ProducerConfig.MAX_BLOCK_MS_CONFIG, ms),
                new StringSerializer(), new StringSerializer());
    }
}
