package io.vitstream.kafka;

import java.util.Map;
import org.apache.kafka.common.config.TopicConfig;

/**
 * How the topics someone creates are replicated: the replication factor and {@code min.insync.replicas}. With
 * {@code acks=all} (implied by every transactional producer here) a write is acknowledged once {@code
 * minInsyncReplicas} replicas have it, so factor 3 and min ISR 2 keep exactly-once transactions going through the loss
 * of one broker, and stop writes (rather than acknowledge what one disk alone holds) when two are down.
 *
 * <p>Either value may be {@link #BROKER_DEFAULT}: the topic then takes the cluster's {@code default.replication.factor}
 * or {@code min.insync.replicas}, Kafka's own convention for "not said" (as Kafka Streams' {@code replication.factor
 * = -1}).
 *
 * @param factor replicas per partition, or {@link #BROKER_DEFAULT}
 * @param minInsyncReplicas replicas that must have a write before it is acknowledged, or {@link #BROKER_DEFAULT}
 */
public record Replication(short factor, int minInsyncReplicas) {
    /** "The broker's default" for either value. */
    public static final int BROKER_DEFAULT = -1;

    /** One replica: a single-node broker. */
    public static final Replication SINGLE = new Replication((short) 1, 1);

    /** Both values left to the brokers' defaults. */
    public static final Replication BROKER_DEFAULTS = new Replication((short) BROKER_DEFAULT, BROKER_DEFAULT);

    public Replication {
        if (factor < 1 && factor != BROKER_DEFAULT) {
            throw new IllegalArgumentException("replication factor must be at least 1, got " + factor);
        }
        if (minInsyncReplicas < 1 && minInsyncReplicas != BROKER_DEFAULT) {
            throw new IllegalArgumentException("min.insync.replicas must be at least 1, got " + minInsyncReplicas);
        }
        if (factor != BROKER_DEFAULT && minInsyncReplicas > factor) {
            throw new IllegalArgumentException("min.insync.replicas " + minInsyncReplicas + " exceeds the replication"
                    + " factor " + factor + ": no write could ever be acknowledged");
        }
    }

    /** {@code factor} replicas with {@link #defaultMinInsync(int)}. */
    public static Replication of(int factor) {
        return new Replication((short) factor, defaultMinInsync(factor));
    }

    /** The usual choice for {@code nodes} brokers: three replicas (fewer when there are fewer nodes), min ISR by
     * {@link #defaultMinInsync(int)}: 1 and 1 on one node, 3 and 2 on three or more. */
    public static Replication defaultFor(int nodes) {
        if (nodes < 1) {
            throw new IllegalArgumentException("a cluster has at least one node, got " + nodes);
        }
        return of(Math.min(nodes, 3));
    }

    /**
     * Two where there are at least three replicas (one may be lost and writes go on), else one: with two replicas a
     * min ISR of two would stop every write at the first broker loss.
     */
    public static int defaultMinInsync(int factor) {
        return factor >= 3 ? 2 : 1;
    }

    /** Topic settings that say it ({@code min.insync.replicas}), empty when it is the broker's default. */
    public Map<String, String> topicConfigs() {
        return minInsyncReplicas == BROKER_DEFAULT ? Map.of()
                : Map.of(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, String.valueOf(minInsyncReplicas));
    }

    /** "3 replicas, min ISR 2", "broker default replicas, min ISR broker default" ... for logs and messages. */
    @Override
    public String toString() {
        return (factor == BROKER_DEFAULT ? "the brokers' default" : String.valueOf(factor)) + " replicas, min ISR "
                + (minInsyncReplicas == BROKER_DEFAULT ? "the brokers' default" : minInsyncReplicas);
    }
}
