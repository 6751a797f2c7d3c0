package io.vitstream.serving;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.function.LongSupplier;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * The collect stage: turns poll results into micro-batches of up to {@code batch.max.size} records, cut at most
 * {@code batch.max.wait.ms} after the batch's first record arrived. Records a poll brings beyond the batch size wait
 * in a leftover queue and open the next batch; their offsets are not committed until they are predicted. Owned by
 * the loop thread (the rebalance listener runs on it too, inside {@code poll}).
 */
final class BatchCollector {
    /** Poll timeout while no batch is filling. */
    static final Duration IDLE_POLL = Duration.ofMillis(100);
    /** Poll slice while batches are in the lanes: how late a finished batch's commit can start. */
    static final Duration IN_FLIGHT_POLL = Duration.ofMillis(2);

    private final int maxSize;
    private final long maxWaitMs;
    private final LongSupplier nanoClock;
    private final ArrayDeque<ConsumerRecord<String, byte[]>> leftover = new ArrayDeque<>();
    private final List<ConsumerRecord<String, byte[]>> batch = new ArrayList<>();
    // When the filling batch got its first record (System.nanoTime), or -1 while it is empty.
    private long firstNanos = -1;
    private long received;

    BatchCollector(int maxSize, long maxWaitMs) {
        this(maxSize, maxWaitMs, System::nanoTime);
    }

    /** With {@code nanoClock} in place of {@link System#nanoTime()} (tests move time by hand). */
    BatchCollector(int maxSize, long maxWaitMs, LongSupplier nanoClock) {
        if (maxSize < 1 || maxWaitMs < 0) {
            throw new IllegalArgumentException("batch size must be positive and wait non-negative, got " + maxSize
                    + " and " + maxWaitMs + " ms");
        }
        this.maxSize = maxSize;
        this.maxWaitMs = maxWaitMs;
        this.nanoClock = nanoClock;
    }

    /** True while a batch holds records and is not taken yet; between batches it is false. */
    boolean filling() {
        return !batch.isEmpty();
    }

    /** Opens the next batch with the records left over from earlier polls (call between batches). */
    void startBatch() {
        while (!leftover.isEmpty() && batch.size() < maxSize) {
            batch.add(leftover.poll());
        }
        startClock();
    }

    /**
     * How long the next poll may wait: while idle {@link #IDLE_POLL}, else what is left of the batch's wait (zero
     * once it has run out: take what has already arrived); never more than {@link #IN_FLIGHT_POLL} while
     * {@code batchesInFlight}, so that finished batches are committed promptly.
     */
    Duration pollTimeout(boolean batchesInFlight) {
        Duration wait = IDLE_POLL;
        if (firstNanos >= 0) {
            wait = Duration.ofMillis(Math.max(0, maxWaitMs - elapsedMs()));
        }
        if (batchesInFlight && wait.compareTo(IN_FLIGHT_POLL) > 0) {
            wait = IN_FLIGHT_POLL;
        }
        return wait;
    }

    /** Adds polled records to the filling batch, those over the batch size to the leftover queue. */
    void add(Iterable<ConsumerRecord<String, byte[]>> polled) {
        for (ConsumerRecord<String, byte[]> r : polled) {
            received++;
            if (batch.size() < maxSize) {
                batch.add(r);
            } else {
                leftover.add(r); // over the batch size: first in the next batch, offsets not committed yet
            }
        }
        startClock();
    }

    /** Whether the filling batch is to be taken now: full, or its wait has run out. */
    boolean ready() {
        return !batch.isEmpty() && (batch.size() >= maxSize || elapsedMs() >= maxWaitMs);
    }

    /** The filling batch, in poll order; the collector is then between batches. */
    List<ConsumerRecord<String, byte[]>> take() {
        List<ConsumerRecord<String, byte[]>> out = List.copyOf(batch);
        batch.clear();
        firstNanos = -1;
        return out;
    }

    /** Records fetched and not taken yet: the filling batch and the leftover queue. */
    int waiting() {
        return batch.size() + leftover.size();
    }

    /** Every record ever added (the arrival rate is its growth plus the lag's). */
    long received() {
        return received;
    }

    /** Forgets the records of {@code partitions} (revoked: their new owner reads them again from the last commit). */
    void dropRevoked(Collection<TopicPartition> partitions) {
        leftover.removeIf(r -> partitions.contains(new TopicPartition(r.topic(), r.partition())));
        batch.removeIf(r -> partitions.contains(new TopicPartition(r.topic(), r.partition())));
        if (batch.isEmpty()) {
            firstNanos = -1;
        }
    }

    /** Forgets every record (after an abort, the consumer is rewound to the committed offsets). */
    void clear() {
        leftover.clear();
        batch.clear();
        firstNanos = -1;
    }

    private void startClock() {
        if (firstNanos < 0 && !batch.isEmpty()) {
            firstNanos = nanoClock.getAsLong();
        }
    }

    private long elapsedMs() {
        return (nanoClock.getAsLong() - firstNanos) / 1_000_000;
    }
}
