package io.vitstream.serving;

import io.vitstream.kafka.Topics;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** The worker's Kafka clients: the image consumer and the transactional producer, set up for exactly-once serving. */
final class WorkerClients {
    /** Group session timeout of the image consumer unless {@code kafka.session.timeout.ms} says otherwise. */
    static final int SESSION_TIMEOUT_MS = 6_000; // the broker's default group.min.session.timeout.ms

    private WorkerClients() {}

    /** Settings every client of the worker shares: the {@code kafka.} settings and the bootstrap servers. */
    static Map<String, Object> common(WorkerConfig config) {
        Map<String, Object> common = new HashMap<>(config.kafka());
        common.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
        return common;
    }

    /** A read_committed consumer in the worker group, committing only through the producer's transactions. */
    static KafkaConsumer<String, byte[]> consumer(WorkerConfig config, Map<String, Object> common) {
        Map<String, Object> c = new HashMap<>(common);
        c.put(ConsumerConfig.GROUP_ID_CONFIG, config.groupId());
        c.put(ConsumerConfig.CLIENT_ID_CONFIG, "vitstream-worker-" + config.workerId());
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, config.batchMaxSize());
        // A killed worker's partitions move after the session timeout (Kafka's default: 45 s of SLO misses); its
        // open transaction is aborted after the producer's transaction timeout below, or at once when it restarts
        // under the same id. Heartbeats come from the consumer's own thread, so long forward passes do not count.
        c.putIfAbsent(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, SESSION_TIMEOUT_MS);
        c.putIfAbsent(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, SESSION_TIMEOUT_MS / 3);
        return new KafkaConsumer<>(c, new StringDeserializer(), new ByteArrayDeserializer());
    }

    /** The transactional producer of predictions and dead letters. */
    static KafkaProducer<String, byte[]> producer(WorkerConfig config, Map<String, Object> common) {
        Map<String, Object> p = new HashMap<>(common);
        // Stable per worker id: a restarted worker fences its previous incarnation and aborts its open transaction.
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "vitstream-worker-" + config.workerId());
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "vitstream-worker-" + config.workerId());
        // Predictions are sent only inside a transaction, and commitTransaction() flushes: lingering costs no latency
        // and lets a commit's predictions go out as one produce request instead of one per few records, each of
        // which the broker (on the worker's own cores in the benchmarks) pays for.
        p.put(ProducerConfig.LINGER_MS_CONFIG, 1000);
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024); // hundreds of predictions; a batch reserves this much
        // Dead letters carry the original bytes, up to the image topic's record limit.
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Topics.MAX_IMAGE_RECORD_BYTES + 64 * 1024);
        p.put(ProducerConfig.BUFFER_MEMORY_CONFIG, 4L * Topics.MAX_IMAGE_RECORD_BYTES);
        // Micro-batches take milliseconds; a worker that dies holds read_committed readers back at most this long.
        p.putIfAbsent(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 10_000);
        config.kafka().forEach(p::put);
        return new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
    }
}
