package io.vitstream.cli;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.LabeledImages;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.sparsity.KeepPolicy;
import io.vitstream.util.UserError;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code vitstream bench serve}: end-to-end images/s and latency through the broker against the model-only images/s
 * of the same model at the same batch size, measured in the same run.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {
            "Serving benchmark on this machine: embedded broker + one worker + a producer, all on the same cores.",
            "Per batch limit: model-only images/s (forward passes on prepared tensors), served images/s at saturation",
            "(PNG images produced as fast as possible, read_committed predictions), their ratio, and end-to-end",
            "latency p50/p95/p99 at 50% and 90% of the saturation rate."
        })
final class BenchServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", defaultValue = "${sys:vitstream.home:-.}/models/base",
            description = "Model directory (default: ${DEFAULT-VALUE}).")
    Path model;

    @Option(names = "--batch-max-size", split = ",", defaultValue = "16,64",
            description = "Worker batch limits to measure (default: ${DEFAULT-VALUE}).")
    List<Integer> batchLimits;

    @Option(names = "--images", defaultValue = "3000", description = "Images at saturation per row (default: ${DEFAULT-VALUE}).")
    int images;

    @Option(names = "--keep-ratio", defaultValue = "1.0", description = "Keep ratio served (default: ${DEFAULT-VALUE}).")
    double keepRatio;

    @Mixin
    DataOptions data;

    @Override
    public Integer call() throws Exception {
        if (images < 100) {
            throw new UserError("--images must be at least 100, got " + images);
        }
        KeepPolicy policy = new KeepPolicy(keepRatio, KeepPolicy.Method.LEARNED, false);
        data.checkAvailable();
        PrintWriter out = spec.commandLine().getOut();
        List<String> rows = new ArrayList<>();
        try (ModelArtifact.Loaded loaded = ModelArtifact.load(model)) {
            KeepPolicy local = loaded.manifest().sparsifier() != null || policy.isDense() ? policy
                    : new KeepPolicy(keepRatio, KeepPolicy.Method.CLS_ATTENTION, false);
            LabeledImages test = data.test(loaded.manifest().input().height());
            List<byte[]> pngs = new ArrayList<>();
            for (int i = 0; i < Math.min(test.count(), images); i++) {
                pngs.add(LocalServing.png(test, i));
            }
            for (int b : batchLimits) {
                if (b < 1) {
                    throw new UserError("--batch-max-size values must be positive, got " + b);
                }
                double modelOnly = Throughput.imagesPerSecond(loaded.model(), loaded.manifest().input(), test, b, 3,
                        local);
                try (LocalServing serving = LocalServing.start(model, keepRatio, b, bootstrap -> { });
                        KafkaProducer<String, byte[]> producer = serving.producer();
                        KafkaConsumer<String, byte[]> predictions = serving.consumer(Topics.PREDICTIONS)) {
                    String run = UUID.randomUUID().toString().substring(0, 8);
                    send(producer, pngs, run + "-warm", Math.min(500, images), 0); // JIT and first-batch warm-up
                    LocalServing.collect(predictions, new ArrayList<>(), Math.min(500, images), Duration.ofMinutes(5));
                    List<Prediction> sat = new ArrayList<>();
                    long start = System.nanoTime();
                    send(producer, pngs, run + "-sat", images, 0);
                    LocalServing.collect(predictions, sat, images, Duration.ofMinutes(10));
                    double served = images / ((System.nanoTime() - start) / 1e9);
                    String at50 = latencies(producer, predictions, pngs, run + "-50", images / 2, 0.5 * served);
                    String at90 = latencies(producer, predictions, pngs, run + "-90", images / 2, 0.9 * served);
                    String row = String.format(Locale.ROOT, "| %d | %.0f | %.0f | %.2f | %s | %s | %s |", b, modelOnly,
                            served, served / modelOnly, percentiles(sat), at50, at90);
                    rows.add(row);
                    out.println("measured batch limit " + b);
                    out.flush();
                }
            }
            out.printf(Locale.ROOT, "%nmodel %s, keep ratio %.2f, %d cores shared by broker, worker and producer; "
                    + "PNG inputs; one run%n%n", loaded.manifest().version(), keepRatio,
                    Runtime.getRuntime().availableProcessors());
            out.println("| batch limit | model-only images/s | served images/s (saturation) | served / model-only | "
                    + "e2e ms p50/p95/p99 at saturation | at 50% load | at 90% load |");
            out.println("|---:|---:|---:|---:|---|---|---|");
            rows.forEach(out::println);
        }
        out.flush();
        return 0;
    }

    private static void send(KafkaProducer<String, byte[]> producer, List<byte[]> pngs, String prefix, int n,
            double rate) throws InterruptedException {
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            if (rate > 0) {
                long wait = start + (long) (i * 1e9 / rate) - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
            }
            producer.send(new ProducerRecord<>(Topics.IMAGES, prefix + "-" + i, pngs.get(i % pngs.size())));
        }
        producer.flush();
    }

    private static String latencies(KafkaProducer<String, byte[]> producer, KafkaConsumer<String, byte[]> consumer,
            List<byte[]> pngs, String prefix, int n, double rate) throws InterruptedException {
        List<Prediction> got = new ArrayList<>();
        send(producer, pngs, prefix, n, rate);
        LocalServing.collect(consumer, got, n, Duration.ofMinutes(10));
        return String.format(Locale.ROOT, "%.0f/s: %s", rate, percentiles(got));
    }

    private static String percentiles(List<Prediction> predictions) {
        double[] e2e = predictions.stream().mapToDouble(Prediction::endToEndMs).sorted().toArray();
        return String.format(Locale.ROOT, "%.0f / %.0f / %.0f", LocalServing.quantile(e2e, 0.5),
                LocalServing.quantile(e2e, 0.95), LocalServing.quantile(e2e, 0.99));
    }
}
