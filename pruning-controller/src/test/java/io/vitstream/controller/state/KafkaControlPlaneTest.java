package io.vitstream.controller.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.Topics;
import io.vitstream.kafka.WorkerStatus;
import io.vitstream.testkit.TestBroker;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * vit.control through one long-lived transactional producer, on a real broker: every write committed and read back
 * by the follower before it returns, invalid messages refused before any write, a newer instance with the same
 * application id fencing this one for good (and saying so), live workers from the followed heartbeats.
 */
@Tag("integration")
class KafkaControlPlaneTest {
    private static final Duration VISIBLE = Duration.ofSeconds(30);

    @Test
    void writesAreCommittedReadBackAndFencedByANewerInstance() throws Exception {
        try (TestBroker broker = TestBroker.start(1)) {
            Map<String, Object> client = broker.clientConfig();
            try (Admin admin = Admin.create(client)) {
                Topics.createAll(admin, 1, (short) 1);
                ControllerTopics.createAll(admin, (short) 1);
            }
            ClusterFollower follower = new ClusterFollower(client);
            follower.start();
            follower.awaitCaughtUp(VISIBLE);
            try (KafkaControlPlane plane = KafkaControlPlane.open(client, "cp-test", follower, VISIBLE, 15_000,
                    Clock.systemUTC())) {
                assertThat(KafkaControlPlane.transactionalId("cp-test")).isEqualTo("cp-test-control");
                ControlMessage a = ControlMessage.active("v1", 1.0).withBounds(0.5, 1.0, 200);
                plane.setControl(a);
                assertThat(follower.control()).isEqualTo(a); // read back before setControl returned
                plane.setControl(a.withCanary("v2", 0.25));
                assertThat(plane.control()).isEqualTo(a.withCanary("v2", 0.25));
                assertThat(plane.problem()).isNull();
                // Both writes are committed records a read_committed reader sees, in order.
                assertThat(committedControl(client)).containsExactly(a, a.withCanary("v2", 0.25));

                assertThatThrownBy(() -> plane.setControl(ControlMessage.active("v1", 0.9).withBounds(0.8, 0.6, 200)))
                        .isInstanceOf(IllegalArgumentException.class)
                        .hasMessage("keep_floor 0.8 is above keep_ceiling 0.6");
                assertThat(committedControl(client)).hasSize(2);

                // A second instance of the same controller claims the id: this one may no longer write.
                try (KafkaControlPlane newer = KafkaControlPlane.open(client, "cp-test", follower, VISIBLE, 15_000,
                        Clock.systemUTC())) {
                    assertThatThrownBy(() -> plane.setControl(ControlMessage.active("v1", 0.8)))
                            .isInstanceOf(IllegalStateException.class)
                            .hasMessage("another controller instance claimed transactional id cp-test-control: this"
                                    + " one no longer writes vit.control; restart it to take over again");
                    assertThat(plane.problem()).startsWith("another controller instance claimed");
                    assertThatThrownBy(() -> plane.setControl(ControlMessage.active("v1", 0.7)))
                            .hasMessageStartingWith("another controller instance claimed");
                    newer.setControl(ControlMessage.active("v3", 0.6));
                    assertThat(follower.control()).isEqualTo(ControlMessage.active("v3", 0.6));
                    assertThat(newer.problem()).isNull();
                }
            } finally {
                follower.close();
            }
        }
    }

    @Test
    void liveWorkersHaveARecentHeartbeatAndAreNotStopped() throws Exception {
        try (TestBroker broker = TestBroker.start(1)) {
            Map<String, Object> client = broker.clientConfig();
            try (Admin admin = Admin.create(client)) {
                Topics.createAll(admin, 1, (short) 1);
                ControllerTopics.createAll(admin, (short) 1);
            }
            long now = System.currentTimeMillis();
            try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(client, new StringSerializer(),
                    new ByteArraySerializer())) {
                p.send(heartbeat("w1", "serving", now - 1_000));
                p.send(heartbeat("w2", "serving", now - 20_000)); // older than the 15 s timeout
                p.send(heartbeat("w3", "stopped", now));
                p.flush();
            }
            ClusterFollower follower = new ClusterFollower(client);
            follower.start();
            follower.awaitCaughtUp(VISIBLE);
            try (KafkaControlPlane plane = KafkaControlPlane.open(client, "cp-live", follower, VISIBLE, 15_000,
                    Clock.systemUTC())) {
                assertThat(follower.workers()).containsOnlyKeys("w1", "w2", "w3");
                assertThat(plane.liveWorkers()).containsOnlyKeys("w1");
                assertThat(plane.workersByVersion()).isEqualTo(Map.of("v1", 1));
            } finally {
                follower.close();
            }
        }
    }

    private static ProducerRecord<String, byte[]> heartbeat(String id, String health, long timestampMs) {
        WorkerStatus s = new WorkerStatus(WorkerStatus.SCHEMA, id, health, "v1", null, "v1", 1.0, List.of(), null, 0,
                java.time.Instant.ofEpochMilli(timestampMs).toString(), null);
        return new ProducerRecord<>(Topics.WORKER_STATUS, null, timestampMs, id,
                WorkerStatus.SERDE.serialize(Topics.WORKER_STATUS, s));
    }

    /** Every committed record of vit.control, in order. */
    private static List<ControlMessage> committedControl(Map<String, Object> client) {
        Map<String, Object> c = new HashMap<>(client);
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<ControlMessage> out = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(c, new StringDeserializer(),
                new ByteArrayDeserializer())) {
            List<TopicPartition> tps = consumer.partitionsFor(Topics.CONTROL).stream()
                    .map(i -> new TopicPartition(Topics.CONTROL, i.partition())).toList();
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            Map<TopicPartition, Long> ends = consumer.endOffsets(tps);
            long deadline = System.currentTimeMillis() + 10_000;
            while (System.currentTimeMillis() < deadline
                    && tps.stream().anyMatch(tp -> consumer.position(tp) < ends.get(tp))) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                    out.add(ControlMessage.SERDE.parse(r.value()));
                }
            }
        }
        return out;
    }
}
