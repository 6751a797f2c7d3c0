package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.stream.IntStream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

class BatchCollectorTest {
    private long nowNanos = 1_000_000_000L;
    private final BatchCollector collector = new BatchCollector(4, 5, () -> nowNanos);

    private static ConsumerRecord<String, byte[]> record(int partition, long offset) {
        return new ConsumerRecord<>("vit.images", partition, offset, "id-" + partition + "-" + offset, new byte[0]);
    }

    private static List<ConsumerRecord<String, byte[]>> records(int partition, long from, int count) {
        return IntStream.range(0, count).mapToObj(i -> record(partition, from + i)).toList();
    }

    private void advanceMs(long ms) {
        nowNanos += ms * 1_000_000L;
    }

    @Test
    void aFullBatchIsReadyAtOnceAndTheRestOpensTheNextBatchInOrder() {
        collector.startBatch();
        collector.add(records(0, 0, 6));

        assertThat(collector.ready()).isTrue();
        assertThat(collector.take()).extracting(ConsumerRecord::offset).containsExactly(0L, 1L, 2L, 3L);
        assertThat(collector.filling()).isFalse();

        collector.startBatch();
        assertThat(collector.filling()).isTrue();
        assertThat(collector.ready()).as("two of four, wait not over").isFalse();
        collector.add(records(0, 6, 3));
        assertThat(collector.take()).extracting(ConsumerRecord::offset).containsExactly(4L, 5L, 6L, 7L);
        collector.startBatch();
        assertThat(collector.take()).extracting(ConsumerRecord::offset).containsExactly(8L);
    }

    @Test
    void aPartialBatchIsReadyOnceItsWaitFromTheFirstRecordRunsOut() {
        collector.startBatch();
        collector.add(List.of());
        assertThat(collector.filling()).isFalse();
        assertThat(collector.ready()).as("nothing to take").isFalse();
        advanceMs(100); // idle time does not count against a batch

        collector.add(records(1, 0, 1));
        advanceMs(3);
        collector.add(records(1, 1, 1));
        assertThat(collector.ready()).isFalse();
        assertThat(collector.pollTimeout(false)).isEqualTo(Duration.ofMillis(2));
        advanceMs(2);
        assertThat(collector.ready()).isTrue();
        assertThat(collector.pollTimeout(false)).isEqualTo(Duration.ZERO);
        assertThat(collector.take()).hasSize(2);
    }

    @Test
    void pollsWaitLongWhileIdleAndInShortSlicesWhileBatchesAreInTheLanes() {
        BatchCollector slow = new BatchCollector(4, 50, () -> nowNanos);
        assertThat(slow.pollTimeout(false)).isEqualTo(BatchCollector.IDLE_POLL);
        assertThat(slow.pollTimeout(true)).isEqualTo(BatchCollector.IN_FLIGHT_POLL);
        slow.add(records(0, 0, 1));
        advanceMs(10);
        assertThat(slow.pollTimeout(false)).isEqualTo(Duration.ofMillis(40));
        assertThat(slow.pollTimeout(true)).isEqualTo(BatchCollector.IN_FLIGHT_POLL);
    }

    @Test
    void revokedPartitionsLeaveTheBatchAndTheLeftovers() {
        collector.add(List.of(record(0, 0), record(1, 0), record(0, 1), record(1, 1), record(0, 2), record(1, 2)));
        collector.dropRevoked(List.of(new TopicPartition("vit.images", 1)));

        assertThat(collector.take()).extracting(ConsumerRecord::partition).containsExactly(0, 0);
        collector.startBatch();
        assertThat(collector.take()).extracting(ConsumerRecord::offset).containsExactly(2L);
    }

    @Test
    void aBatchWhosePartitionsAllWentIsNoBatch() {
        collector.add(records(1, 0, 2));
        collector.dropRevoked(List.of(new TopicPartition("vit.images", 1)));
        advanceMs(10);
        assertThat(collector.filling()).isFalse();
        assertThat(collector.ready()).isFalse();
        assertThat(collector.pollTimeout(false)).isEqualTo(BatchCollector.IDLE_POLL);
    }

    @Test
    void clearForgetsTheBatchAndTheLeftovers() {
        collector.add(records(0, 0, 7));
        collector.clear();
        collector.startBatch();
        assertThat(collector.filling()).isFalse();
        assertThat(collector.take()).isEmpty();
    }
}
