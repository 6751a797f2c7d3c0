package io.vitstream.cli;

import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.kafka.WorkerStatus;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;

/**
 * The demo's serving phase: the broker, worker and controller keep running for any Kafka client, and a live line
 * every few seconds says what they do (throughput, latency, accuracy of labelled inputs, keep ratio, model version,
 * dead letters), with the addresses printed again every minute, until Ctrl-C or the given duration.
 */
final class DemoServe {
    static final Duration LINE_EVERY = Duration.ofSeconds(5);
    private static final int HEADER_EVERY = 12;

    private DemoServe() {}

    /**
     * Serves until {@code duration} has passed (null: until the process is asked to stop, Ctrl-C or SIGTERM, after
     * which the caller's resources close normally before the JVM exits).
     */
    static void run(PrintWriter out, LocalServing local, String bootstrap, String admin,
            KafkaConsumer<String, byte[]> predictions, KafkaConsumer<String, byte[]> dlq, Duration duration) {
        CountDownLatch stop = new CountDownLatch(1);
        CountDownLatch closed = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            stop.countDown();
            try {
                closed.await(30, TimeUnit.SECONDS); // let the demo close the broker, worker and controller
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "demo-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            serve(out, local, bootstrap, admin, predictions, dlq, duration, stop);
        } finally {
            closed.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // the JVM is already shutting down: the hook runs and returns at once
            }
        }
    }

    private static void serve(PrintWriter out, LocalServing local, String bootstrap, String admin,
            KafkaConsumer<String, byte[]> predictions, KafkaConsumer<String, byte[]> dlq, Duration duration,
            CountDownLatch stop) {
        long start = System.nanoTime();
        long end = duration == null ? Long.MAX_VALUE : start + duration.toNanos();
        long served = 0;
        long labelled = 0;
        long correct = 0;
        long deadLetters = 0;
        int lines = 0;
        List<Double> window = new ArrayList<>();
        long windowStart = start;
        out.printf(Locale.ROOT, "%nserving %s: produce images to %s at %s (key = request id, optional header"
                + " 'label'), read %s%n", duration == null ? "until Ctrl-C" : "for " + duration.toSeconds() + " s",
                Topics.IMAGES, bootstrap, Topics.PREDICTIONS);
        out.flush();
        while (System.nanoTime() < end && stop.getCount() > 0) {
            for (ConsumerRecord<String, byte[]> r : predictions.poll(Duration.ofMillis(200))) {
                Prediction p = Prediction.SERDE.parse(r.value());
                served++;
                window.add(p.endToEndMs());
                if (p.label() != null) {
                    labelled++;
                    correct += p.label() == p.classIndex() ? 1 : 0;
                }
            }
            deadLetters += dlq.poll(Duration.ZERO).count();
            long now = System.nanoTime();
            if (now - windowStart >= LINE_EVERY.toNanos()) {
                if (lines++ % HEADER_EVERY == 0) {
                    out.printf(Locale.ROOT, "  broker %s | admin %s | worker metrics http://127.0.0.1:%d/metrics%n",
                            bootstrap, admin, local.http.port());
                }
                double[] e2e = window.stream().mapToDouble(Double::doubleValue).sorted().toArray();
                WorkerStatus s = local.worker.status();
                out.printf(Locale.ROOT, "  [%4.0f s] %.0f images/s (%d served) | p50/p95 %s ms | accuracy %s | keep %.2f"
                        + " | model %s | dlq %d%n", (now - start) / 1e9, e2e.length / ((now - windowStart) / 1e9),
                        served, e2e.length == 0 ? "-/-" : String.format(Locale.ROOT, "%.0f/%.0f",
                                LocalServing.quantile(e2e, 0.5), LocalServing.quantile(e2e, 0.95)),
                        labelled == 0 ? "- (no labels yet)" : String.format(Locale.ROOT, "%.4f of %d labelled",
                                (double) correct / labelled, labelled), s.keepRatio(), s.modelVersion(), deadLetters);
                out.flush();
                window.clear();
                windowStart = now;
            }
        }
        out.printf(Locale.ROOT, "stopping after %.0f s: %d predictions served, %d dead letters%n",
                (System.nanoTime() - start) / 1e9, served, deadLetters);
        out.flush();
    }
}
