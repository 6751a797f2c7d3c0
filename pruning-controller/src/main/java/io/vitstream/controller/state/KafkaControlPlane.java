package io.vitstream.controller.state;

import io.vitstream.controller.rollout.ControlPlane;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.Topics;
import io.vitstream.kafka.WorkerStatus;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The controller's {@link ControlPlane} on Kafka: writes vit.control with one long-lived transactional producer and
 * returns once the follower reads the write back; live workers from the followed heartbeats.
 *
 * <p>The transactional id is stable (derived from the controller's application id), so a controller that starts
 * fences the one before it: a stale instance that lost its place (a long GC pause, a partition) can no longer change
 * what is served, and says so on {@code /health} ({@link #problem()}) instead of fighting the new one.
 */
public final class KafkaControlPlane implements ControlPlane, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(KafkaControlPlane.class);

    private final Producer<String, byte[]> producer;
    private final String transactionalId;
    private final ClusterView cluster;
    private final Duration visible;
    private final long workerTimeoutMs;
    private final Clock clock;
    private volatile String problem;

    /**
     * @param producer a transactional producer, not yet initialised: this claims its id (and fences a previous holder)
     * @param visible how long a write may take to be read back by {@code cluster}
     * @param workerTimeoutMs a worker whose last heartbeat is older than this is not live
     */
    KafkaControlPlane(Producer<String, byte[]> producer, String transactionalId, ClusterView cluster, Duration visible,
            long workerTimeoutMs, Clock clock) {
        this.producer = producer;
        this.transactionalId = transactionalId;
        this.cluster = cluster;
        this.visible = visible;
        this.workerTimeoutMs = workerTimeoutMs;
        this.clock = clock;
        producer.initTransactions();
    }

    /** The id every instance of the controller {@code applicationId} writes vit.control under. */
    public static String transactionalId(String applicationId) {
        return applicationId + "-control";
    }

    /** Opens the producer for {@code applicationId} and claims its transactional id. */
    public static KafkaControlPlane open(Map<String, Object> clientSettings, String applicationId, ClusterView cluster,
            Duration visible, long workerTimeoutMs, Clock clock) {
        String id = transactionalId(applicationId);
        Map<String, Object> p = new HashMap<>(clientSettings);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, id);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, id);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(),
                new ByteArraySerializer());
        try {
            return new KafkaControlPlane(producer, id, cluster, visible, workerTimeoutMs, clock);
        } catch (RuntimeException e) {
            producer.close(Duration.ZERO);
            throw new IllegalStateException("cannot claim transactional id " + id + " to write " + Topics.CONTROL
                    + ": " + e.getMessage(), e);
        }
    }

    @Override
    public ControlMessage control() {
        return cluster.control();
    }

    @Override
    public void setControl(ControlMessage next) {
        String invalid = next.problem();
        if (invalid != null) {
            throw new IllegalArgumentException(invalid);
        }
        write(next);
        try {
            cluster.awaitControl(next::equals, visible);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for " + Topics.CONTROL, e);
        }
    }

    private synchronized void write(ControlMessage next) {
        if (problem != null) {
            throw new IllegalStateException(problem);
        }
        try {
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(Topics.CONTROL, Topics.CONTROL_KEY,
                    ControlMessage.SERDE.serialize(Topics.CONTROL, next)));
            producer.commitTransaction();
        } catch (KafkaException e) {
            Throwable fatal = fatal(e);
            if (fatal == null) {
                try {
                    producer.abortTransaction();
                } catch (KafkaException abort) {
                    e.addSuppressed(abort);
                    fatal = fatal(abort);
                }
            }
            if (fatal == null) {
                throw new IllegalStateException("cannot write " + Topics.CONTROL + ": " + e.getMessage(), e);
            }
            // KafkaProducer javadoc: after these the producer cannot go on; only close is left.
            problem = (fenced(fatal) ? "another controller instance claimed transactional id " + transactionalId
                    + ": this one no longer writes " + Topics.CONTROL : "cannot write " + Topics.CONTROL
                    + " any more (" + fatal.getClass().getSimpleName() + ": " + fatal.getMessage() + ")")
                    + "; restart it to take over again";
            log.error("{}", problem);
            producer.close(Duration.ZERO);
            throw new IllegalStateException(problem, e);
        }
    }

    /** The error in {@code e}'s causes after which this producer cannot write again, or null. */
    private static Throwable fatal(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (fenced(t) || t instanceof OutOfOrderSequenceException || t instanceof AuthorizationException
                    || t instanceof UnsupportedVersionException) {
                return t;
            }
        }
        return null;
    }

    /**
     * A newer holder of the transactional id bumped its epoch: brokers say so as a fenced producer, or (transactions
     * v2) as an old epoch.
     */
    private static boolean fenced(Throwable t) {
        return t instanceof ProducerFencedException || t instanceof InvalidProducerEpochException;
    }

    @Override
    public Map<String, WorkerStatus> liveWorkers() {
        Map<String, WorkerStatus> live = new TreeMap<>();
        long now = clock.millis();
        cluster.workers().forEach((id, w) -> {
            if (now - w.heartbeatMs() <= workerTimeoutMs && !"stopped".equals(w.status().health())) {
                live.put(id, w.status());
            }
        });
        return live;
    }

    /** Null while this instance may write vit.control; else why not (fenced by a newer instance ...). */
    @Override
    public String problem() {
        return problem;
    }

    @Override
    public synchronized void close() {
        if (problem == null) {
            producer.close(Duration.ofSeconds(10));
        }
    }
}
