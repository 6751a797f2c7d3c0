package io.vitstream.serving;

import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.serving.Decoder.Accepted;
import io.vitstream.serving.Decoder.Rejected;
import io.vitstream.serving.InferenceLanes.Forward;
import io.vitstream.serving.InferenceLanes.InFlight;
import io.vitstream.serving.WorkerMetrics.Phase;
import io.vitstream.serving.decode.RejectReason;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The commit stage: produces the predictions and dead letters of finished batches and commits their consumed
 * offsets in the same Kafka transaction ({@code sendOffsetsToTransaction}), strictly in consumption order. An aborted
 * transaction drops every uncommitted batch and rewinds the consumer to the committed offsets, so each input is
 * answered exactly once for read_committed readers. Owns the transactional producer; runs on the loop thread.
 *
 * <p>Errors, as the {@code KafkaProducer} javadoc sorts them: an abortable one (a rebalance, a broker hiccup, an
 * {@link InvalidProducerEpochException} after the coordinator timed the transaction out) aborts and re-reads; a commit
 * that times out is retried, as that javadoc allows. A producer fenced under this worker's own transactional id, or
 * left in a state it cannot abort from, is replaced by a new one under the same id, as Kafka Streams does: most often
 * the fence is the transaction coordinator's own (a transaction that outlived {@code transaction.timeout.ms} while a
 * broker failed over), and the consumer group's generation, which every offset commit carries, keeps a true zombie
 * from committing. A worker fenced again and again (another live process under the same id) stops.
 */
final class TransactionalCommitter implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(TransactionalCommitter.class);

    /** Fences within {@link #FENCE_WINDOW_NANOS} after which the worker stops: another process holds its id. */
    static final int MAX_FENCES = 5;
    private static final long FENCE_WINDOW_NANOS = 60_000_000_000L;
    /** commitTransaction() (or a new producer's initTransactions()) calls that may time out before giving up. */
    private static final int COMMIT_TRIES = 3;

    private final Supplier<KafkaProducer<String, byte[]>> producers;
    private KafkaProducer<String, byte[]> producer;
    private final long[] fences = new long[MAX_FENCES];
    private int fenceCount;
    private final KafkaConsumer<String, byte[]> consumer;
    private final InferenceLanes lanes;
    private final BatchCollector collector;
    private final PredictionBuilder predictions;
    private final WorkerMetrics metrics;
    private volatile boolean crashAtNextCommit;

    /** Thrown inside the loop to imitate a process dying between produce and commit. */
    static final class SimulatedCrash extends RuntimeException {
        SimulatedCrash() {
            super("simulated crash", null, false, false);
        }
    }

    /** A prediction sent in the open transaction, with what its metrics need once it is committed. */
    private record Sent(Prediction prediction, double keepRatio, int tokens, long flops) {}

    /** {@code producers} makes the transactional producer, the first now and a replacement after a fence. */
    TransactionalCommitter(Supplier<KafkaProducer<String, byte[]>> producers, KafkaConsumer<String, byte[]> consumer,
            InferenceLanes lanes, BatchCollector collector, PredictionBuilder predictions, WorkerMetrics metrics) {
        this.producers = producers;
        this.producer = producers.get();
        this.consumer = consumer;
        this.lanes = lanes;
        this.collector = collector;
        this.predictions = predictions;
        this.metrics = metrics;
    }

    /** Fences an earlier incarnation with the same transactional id and aborts its open transaction. */
    void initTransactions() {
        producer.initTransactions();
    }

    /**
     * Commits the oldest batches whose forward passes are done, in consumption order, in one transaction; with
     * {@code waitForOldest}, first waits for the oldest. Returns false when the transaction was aborted: everything
     * uncommitted was dropped and will be read again from the committed offsets.
     */
    boolean commitFinished(boolean waitForOldest) {
        List<InFlight> done = lanes.takeFinished(waitForOldest);
        return done.isEmpty() || commit(done);
    }

    /** Waits for every batch in the lanes and commits them (before a model swap, at a clean stop). */
    void commitAll() {
        while (lanes.busy()) {
            commitFinished(true);
        }
    }

    /** produce -> commit of finished batches, in one transaction with their offsets. */
    private boolean commit(List<InFlight> done) {
        long phaseStart = System.nanoTime();
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        List<Sent> sent = new ArrayList<>();
        List<Rejected> deadLetters = new ArrayList<>();
        try {
            for (InFlight f : done) {
                for (ConsumerRecord<String, byte[]> r : f.batch.records()) {
                    if (f.kept(r)) {
                        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                        offsets.merge(tp, new OffsetAndMetadata(r.offset() + 1),
                                (a, b) -> a.offset() >= b.offset() ? a : b);
                    }
                }
            }
            if (offsets.isEmpty()) {
                return true; // every record went to another worker in a rebalance
            }
            producer.beginTransaction();
            for (InFlight f : done) {
                Forward fw = f.result();
                List<Accepted> accepted = f.batch.accepted();
                List<Rejected> rejected = new ArrayList<>(f.batch.rejected());
                if (fw.error() != null) {
                    // A failing forward pass is not the inputs' fault, but they must not vanish: dead-letter them.
                    log.error("forward pass failed on a batch of {}", accepted.size(), fw.error());
                    for (Accepted a : accepted) {
                        rejected.add(new Rejected(a.record(), a.id(), RejectReason.INFERENCE_ERROR,
                                String.valueOf(fw.error())));
                    }
                }
                for (Rejected r : rejected) {
                    if (f.kept(r.record())) {
                        producer.send(deadLetter(r));
                        deadLetters.add(r);
                    }
                }
                if (fw.error() != null) {
                    continue;
                }
                List<Integer> tokens = f.model.tokensKept(f.keepRatio);
                long flops = f.model.flops(f.keepRatio);
                int tokenSum = tokens.stream().mapToInt(Integer::intValue).sum();
                PredictionBuilder.Batch facts = new PredictionBuilder.Batch(f.model.version(),
                        f.model.manifest().classNames(), f.keepRatio, f.keepReason, tokens, flops, fw.startMs(),
                        fw.inferenceMs());
                for (int i = 0; i < accepted.size(); i++) {
                    Accepted a = accepted.get(i);
                    if (!f.kept(a.record())) {
                        continue;
                    }
                    long now = System.currentTimeMillis();
                    Prediction p = predictions.build(a, fw.logits()[i], fw.teacherClasses()[i], facts, now);
                    sent.add(new Sent(p, f.keepRatio, tokenSum, flops));
                    producer.send(new ProducerRecord<>(Topics.PREDICTIONS, a.id(), Prediction.SERDE.serialize(null, p)));
                }
            }
            producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
            if (crashAtNextCommit) {
                producer.flush(); // the worst case: the predictions are in the log, the commit never comes
                throw new SimulatedCrash();
            }
            phaseStart = phaseDone(Phase.PRODUCE, phaseStart);
            commitTransaction();
            phaseDone(Phase.COMMIT, phaseStart);
        } catch (AuthorizationException | SimulatedCrash e) {
            throw e; // fatal: no new producer would be allowed either
        } catch (ProducerFencedException e) {
            // Fenced under our own id: by the coordinator after a transaction timeout, or by another live process.
            fenced(e);
            metrics.aborted(e.getClass().getSimpleName());
            replaceProducer(e);
            return false;
        } catch (KafkaException e) {
            // Rebalance in between, broker hiccup, a transaction the coordinator timed out (InvalidProducerEpoch):
            // nothing of these batches is visible; read them again from the commit.
            log.warn("transaction aborted, re-reading the uncommitted batches: {}", e.toString());
            metrics.aborted(e.getClass().getSimpleName());
            try {
                producer.abortTransaction();
            } catch (ProducerFencedException f) {
                fenced(f);
                replaceProducer(f);
                return false;
            } catch (AuthorizationException f) {
                throw f;
            } catch (KafkaException f) {
                replaceProducer(f); // a state abortTransaction() cannot leave (a fatal error, a commit left pending)
                return false;
            }
            discardUncommitted();
            return false;
        }
        for (InFlight f : done) {
            metrics.batch(f.batch.records().size());
            Forward fw = f.result();
            if (fw.error() == null && !f.batch.accepted().isEmpty()) {
                metrics.batchForward(f.predictedMs, fw.inferenceMs());
            }
        }
        for (Rejected r : deadLetters) {
            metrics.rejected(r.reason());
        }
        for (Sent x : sent) {
            Prediction p = x.prediction();
            metrics.predicted(p.modelVersion(), x.keepRatio(), p.queueMs(), p.inferenceMs(), p.endToEndMs(), x.tokens(),
                    x.flops());
        }
        return true;
    }

    /** commitTransaction(), tried again after a timeout (it resumes the same commit); the last timeout propagates. */
    private void commitTransaction() {
        for (int attempt = 1; ; attempt++) {
            try {
                producer.commitTransaction();
                return;
            } catch (TimeoutException e) {
                if (attempt == COMMIT_TRIES) {
                    throw e;
                }
                log.warn("commitTransaction timed out (try {} of {}); trying again: {}", attempt, COMMIT_TRIES,
                        e.getMessage());
            }
        }
    }

    /**
     * Counts a fence; the {@link #MAX_FENCES}th within a minute rethrows it: another live worker holds this id, and
     * fencing each other in turn would serve nothing.
     */
    private void fenced(ProducerFencedException e) {
        long now = System.nanoTime();
        long oldest = fences[fenceCount % MAX_FENCES];
        fences[fenceCount % MAX_FENCES] = now;
        fenceCount++;
        if (fenceCount >= MAX_FENCES && now - oldest < FENCE_WINDOW_NANOS) {
            throw e;
        }
    }

    /**
     * Drops the uncommitted work, closes the producer without waiting and makes a new one under the same
     * transactional id: its initTransactions() aborts whatever the old one left open.
     */
    private void replaceProducer(KafkaException cause) {
        log.warn("transactional producer unusable ({}); replacing it under the same id and re-reading the uncommitted"
                + " batches", cause.toString());
        metrics.producerReplaced();
        try {
            producer.close(Duration.ZERO);
        } catch (RuntimeException e) {
            log.debug("closing the old producer: {}", e.toString());
        }
        producer = producers.get();
        // The coordinator may still be moving (a broker failing over): a few tries, each up to max.block.ms.
        for (int attempt = 1; ; attempt++) {
            try {
                producer.initTransactions();
                break;
            } catch (TimeoutException e) {
                if (attempt == COMMIT_TRIES) {
                    throw e;
                }
                log.warn("initTransactions of the new producer timed out (try {} of {}); trying again: {}", attempt,
                        COMMIT_TRIES, e.getMessage());
            }
        }
        discardUncommitted();
    }

    /** After an abort: waits for the lanes, forgets every uncommitted record and seeks back to the committed offsets. */
    private void discardUncommitted() {
        lanes.discardAll();
        collector.clear();
        rewindToCommitted();
    }

    private void rewindToCommitted() {
        Set<TopicPartition> assigned = consumer.assignment();
        Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(assigned);
        for (TopicPartition tp : assigned) {
            OffsetAndMetadata o = committed.get(tp);
            if (o != null) {
                consumer.seek(tp, o);
            } else {
                consumer.seekToBeginning(List.of(tp));
            }
        }
    }

    /** Records the phase that began at {@code start} and returns now, the start of the next one. */
    private long phaseDone(Phase phase, long start) {
        long now = System.nanoTime();
        metrics.phase(phase, now - start);
        return now;
    }

    /** The dead letter for {@code r}: its original key, bytes and headers, with the reason in the error headers. */
    static ProducerRecord<String, byte[]> deadLetter(Rejected r) {
        Headers h = new RecordHeaders(r.record().headers().toArray());
        h.remove(Topics.HEADER_ERROR);
        h.add(Topics.HEADER_ERROR, r.reason().wire().getBytes(StandardCharsets.UTF_8));
        h.add(Topics.HEADER_ERROR_DETAIL, r.detail().getBytes(StandardCharsets.UTF_8));
        if (r.record().key() == null) {
            h.add(Topics.HEADER_REQUEST_ID, r.id().getBytes(StandardCharsets.UTF_8));
        }
        // The original key and bytes, unchanged: a fixed input can be replayed as it is.
        return new ProducerRecord<>(Topics.DLQ, null, r.record().key(), r.record().value(), h);
    }

    /** The listener to subscribe with: it drops the uncommitted work of partitions this worker loses. */
    ConsumerRebalanceListener dropUncommitted() {
        return new DropUncommitted();
    }

    /** Records of partitions this worker loses were never committed here: their new owner reads them again. */
    private final class DropUncommitted implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            // Never commit a revoked partition's records: the generation check would pass (it is per member, not
            // per partition) and the new owner, which starts from the last commit, would predict them again.
            lanes.dropRevoked(partitions);
            collector.dropRevoked(partitions);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {}

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            onPartitionsRevoked(partitions);
        }
    }

    /** Test hook: the next commit throws {@link SimulatedCrash} with its transaction left open (like kill -9). */
    void crashAtNextCommit() {
        crashAtNextCommit = true;
    }

    /** Closes the producer at once, leaving an open transaction open (a simulated crash). */
    void closeNow() {
        producer.close(Duration.ZERO);
    }

    @Override
    public void close() {
        try {
            producer.close(Duration.ofSeconds(5));
        } catch (RuntimeException e) {
            log.warn("producer close: {}", e.toString());
        }
    }
}
