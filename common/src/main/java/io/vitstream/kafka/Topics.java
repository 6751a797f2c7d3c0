package io.vitstream.kafka;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * The Kafka contract's topics: the only place their names are written. See DESIGN.md, "Kafka contract".
 */
public final class Topics {
    /** Key: request id (generated if absent). Value: encoded image bytes. Headers: content-type, label, trace-id. */
    public static final String IMAGES = "vit.images";
    /** Key: request id. Value: {@link Prediction} JSON; exactly one per accepted input for read_committed readers. */
    public static final String PREDICTIONS = "vit.predictions";
    /**
     * Key: request id. Value: label int (late ground truth) as decimal text, the same encoding as the {@code label}
     * header of {@link #IMAGES}; see {@link Labels}.
     */
    public static final String LABELS = "vit.labels";
    /** Key: request id. Value: the original bytes. Header {@code error} says why. */
    public static final String DLQ = "vit.dlq";
    /** Compacted. Keys {@code <version>/manifest} and {@code <version>/<chunk>}. See {@link ModelRecords}. */
    public static final String MODELS = "vit.models";
    /** Compacted. Key {@code desired}. Value: {@link ControlMessage} JSON. */
    public static final String CONTROL = "vit.control";
    /** Compacted. Key: worker id. Value: {@link WorkerStatus} JSON heartbeat. */
    public static final String WORKER_STATUS = "vit.worker-status";

    /** The single key of {@link #CONTROL}. */
    public static final String CONTROL_KEY = "desired";

    /** Header names on {@link #IMAGES} and {@link #DLQ}. */
    public static final String HEADER_CONTENT_TYPE = "content-type";
    public static final String HEADER_LABEL = "label";
    public static final String HEADER_TRACE_ID = "trace-id";
    public static final String HEADER_ERROR = "error";
    public static final String HEADER_ERROR_DETAIL = "error-detail";
    public static final String HEADER_REQUEST_ID = "request-id";

    public static final List<String> ALL = List.of(IMAGES, PREDICTIONS, LABELS, DLQ, MODELS, CONTROL, WORKER_STATUS);

    /**
     * Largest record on {@link #IMAGES} and {@link #DLQ}: above the worker's default 10 MB input limit, so over-size
     * inputs reach the worker and are dead-lettered with a reason (bigger ones are refused by the broker to their
     * producer).
     */
    public static final int MAX_IMAGE_RECORD_BYTES = 16 * 1024 * 1024;

    /**
     * Settings of a consumer that reads the compacted topics ({@link #MODELS}, {@link #CONTROL}, the controller's
     * state) by assigning partitions itself: {@code clientSettings} plus read_committed, no group and no commits,
     * and a partition fetch large enough for a model chunk.
     */
    public static Map<String, Object> compactedReader(Map<String, Object> clientSettings, String clientId) {
        Map<String, Object> c = new HashMap<>(clientSettings);
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        c.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
        c.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 4 * 1024 * 1024);
        c.remove(ConsumerConfig.GROUP_ID_CONFIG);
        return c;
    }

    private static final Map<String, String> LARGE = Map.of(
            TopicConfig.MAX_MESSAGE_BYTES_CONFIG, String.valueOf(MAX_IMAGE_RECORD_BYTES));

    private static final Map<String, String> COMPACTED = Map.of(
            TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT,
            // A model version is published as one record per chunk; allow a bit more than the chunk size.
            TopicConfig.MAX_MESSAGE_BYTES_CONFIG, String.valueOf(2 * 1024 * 1024));

    private Topics() {}

    /**
     * The contract's topics with their settings: data topics get {@code partitions} partitions (workers scale by
     * partitions), the compacted state topics one partition each so that their order is total. No topic-level
     * {@code min.insync.replicas}: the brokers' default applies.
     */
    public static List<NewTopic> definitions(int partitions, short replication) {
        return definitions(partitions, new Replication(replication, Replication.BROKER_DEFAULT));
    }

    /**
     * As above with {@code replication}'s factor on every topic and, unless it is the brokers' default, its
     * {@code min.insync.replicas} as a topic setting (so the topics keep it on a cluster whose default is lower).
     */
    public static List<NewTopic> definitions(int partitions, Replication replication) {
        return List.of(
                topic(IMAGES, partitions, replication, LARGE),
                topic(PREDICTIONS, partitions, replication, Map.of()),
                topic(LABELS, partitions, replication, Map.of()),
                topic(DLQ, partitions, replication, LARGE),
                topic(MODELS, 1, replication, COMPACTED),
                topic(CONTROL, 1, replication, COMPACTED),
                topic(WORKER_STATUS, 1, replication, COMPACTED));
    }

    /** A topic with {@code replication} (its factor, and its min ISR among the {@code configs}). */
    public static NewTopic topic(String name, int partitions, Replication replication, Map<String, String> configs) {
        Map<String, String> all = new HashMap<>(configs);
        all.putAll(replication.topicConfigs());
        return new NewTopic(name, Optional.of(partitions), replication.factor() == Replication.BROKER_DEFAULT
                ? Optional.empty() : Optional.of(replication.factor())).configs(all);
    }

    /** Creates every topic of the contract that does not exist yet (no topic-level min ISR). */
    public static void createAll(Admin admin, int partitions, short replication)
            throws InterruptedException, ExecutionException {
        createAll(admin, definitions(partitions, replication));
    }

    /** Creates every topic of the contract that does not exist yet, replicated as {@code replication} says. */
    public static void createAll(Admin admin, int partitions, Replication replication)
            throws InterruptedException, ExecutionException {
        createAll(admin, definitions(partitions, replication));
    }

    /** Creates those of {@code topics} that do not exist yet; one that exists is left as it is. */
    public static void createAll(Admin admin, List<NewTopic> topics) throws InterruptedException, ExecutionException {
        for (NewTopic t : topics) {
            try {
                admin.createTopics(List.of(t)).all().get();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw e;
                }
            }
        }
    }
}
