package io.vitstream.controller.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.Topics;
import io.vitstream.kafka.WorkerStatus;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * vit.control through one transactional producer: one transaction per write on the same producer, each write waited
 * for until it is read back, fencing by a newer instance ends the writes (and says so), a failed commit is aborted.
 */
class KafkaControlPlaneTest {
    private static final Instant T0 = Instant.parse("2026-11-28T10:00:00Z");

    private final MockProducer<String, byte[]> producer = new MockProducer<>(true, null, new StringSerializer(),
            new ByteArraySerializer());

    /** Reads back what the producer committed, as the follower would. */
    private final class ReadBack implements ClusterView {
        final Map<String, SeenWorker> workers = new ConcurrentHashMap<>();
        int waits;

        @Override
        public ControlMessage control() {
            List<ProducerRecord<String, byte[]>> h = producer.history();
            return h.isEmpty() ? null : ControlMessage.SERDE.parse(h.get(h.size() - 1).value());
        }

        @Override
        public ControlMessage awaitControl(Predicate<ControlMessage> condition, Duration timeout) {
            waits++;
            ControlMessage c = control();
            if (!condition.test(c)) {
                throw new IllegalStateException("vit.control did not show the expected record (last seen: " + c + ")");
            }
            return c;
        }

        @Override
        public Map<String, SeenWorker> workers() {
            return Map.copyOf(workers);
        }

        @Override
        public Map<String, PublishedVersion> versions() {
            return Map.of();
        }

        @Override
        public boolean healthy() {
            return true;
        }
    }

    private final ReadBack cluster = new ReadBack();
    private final KafkaControlPlane plane = new KafkaControlPlane(producer, "vitstream-controller-control", cluster,
            Duration.ofSeconds(1), 15_000, Clock.fixed(T0, ZoneOffset.UTC));

    @Test
    void everyWriteIsOneCommittedTransactionOnTheSameProducerAndIsReadBack() {
        assertThat(KafkaControlPlane.transactionalId("vitstream-controller")).isEqualTo("vitstream-controller-control");
        assertThat(producer.transactionInitialized()).isTrue();
        ControlMessage a = ControlMessage.active("v1", 1.0).withBounds(0.5, 1.0, 200);
        plane.setControl(a);
        plane.setControl(a.withCanary("v2", 0.25));
        assertThat(producer.commitCount()).isEqualTo(2);
        assertThat(producer.history()).extracting(ProducerRecord::topic).containsOnly(Topics.CONTROL);
        assertThat(producer.history()).extracting(ProducerRecord::key).containsOnly(Topics.CONTROL_KEY);
        assertThat(plane.control()).isEqualTo(a.withCanary("v2", 0.25));
        assertThat(cluster.waits).isEqualTo(2);
        assertThat(producer.closed()).isFalse();
        assertThat(plane.problem()).isNull();
    }

    @Test
    void anInvalidMessageIsRefusedBeforeAnyTransaction() {
        assertThatThrownBy(() -> plane.setControl(ControlMessage.active("v1", 0.9).withBounds(0.8, 0.6, 200)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("keep_floor 0.8 is above keep_ceiling 0.6");
        assertThat(producer.commitCount()).isZero();
    }

    @Test
    void aNewerInstanceFencesThisOneForGood() {
        plane.setControl(ControlMessage.active("v1", 1.0));
        producer.fenceProducer();
        assertThatThrownBy(() -> plane.setControl(ControlMessage.active("v1", 0.8)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("another controller instance claimed transactional id vitstream-controller-control: this"
                        + " one no longer writes vit.control; restart it to take over again");
        assertThat(plane.problem()).startsWith("another controller instance claimed");
        assertThat(producer.closed()).isTrue();
        assertThatThrownBy(() -> plane.setControl(ControlMessage.active("v1", 0.7)))
                .hasMessageStartingWith("another controller instance claimed");
        assertThat(plane.control()).isEqualTo(ControlMessage.active("v1", 1.0));
        plane.close();
    }

    @Test
    void aFailedCommitIsAbortedAndTheNextWriteGoesThrough() {
        producer.commitTransactionException = new KafkaException("broker away");
        assertThatThrownBy(() -> plane.setControl(ControlMessage.active("v1", 0.8)))
                .hasMessage("cannot write vit.control: broker away");
        assertThat(producer.transactionAborted()).isTrue();
        producer.commitTransactionException = null;
        plane.setControl(ControlMessage.active("v1", 0.7));
        assertThat(plane.control()).isEqualTo(ControlMessage.active("v1", 0.7));
        assertThat(plane.problem()).isNull();
    }

    @Test
    void liveWorkersAreRecentAndNotStopped() {
        cluster.workers.put("w1", new ClusterView.SeenWorker(status("w1", "serving"), T0.toEpochMilli() - 1000));
        cluster.workers.put("w2", new ClusterView.SeenWorker(status("w2", "serving"), T0.toEpochMilli() - 20_000));
        cluster.workers.put("w3", new ClusterView.SeenWorker(status("w3", "stopped"), T0.toEpochMilli()));
        assertThat(plane.liveWorkers()).containsOnlyKeys("w1");
        assertThat(plane.workersByVersion()).isEqualTo(Map.of("v1", 1));
    }

    private static WorkerStatus status(String id, String health) {
        return new WorkerStatus(WorkerStatus.SCHEMA, id, health, "v1", null, "v1", 1.0, List.of(), null, 0,
                T0.toString(), null);
    }
}
