package io.vitstream.cli;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.LabeledImages;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.serving.WorkerMetrics;
import io.vitstream.serving.WorkerMetrics.Phase;
import io.vitstream.sparsity.KeepPolicy;
import io.vitstream.util.UserError;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.consumer.ConsumerConfig;
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
    /**
     * The benchmark's own reader of predictions shares the cores: it fetches in bulk (up to 100 ms late) rather than
     * record by record, so the broker spends less on it. Latency figures come from the predictions' own end-to-end
     * times (worker clock), not from when this reader sees them.
     */
    private static final Map<String, Object> READER = Map.of(
            ConsumerConfig.FETCH_MIN_BYTES_CONFIG, 256 * 1024, ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100);

    @Spec
    CommandSpec spec;

    @Option(names = "--model", defaultValue = "${sys:vitstream.home:-.}/models/base",
            description = "Model directory (default: ${DEFAULT-VALUE}).")
    Path model;

    @Option(names = "--batch-max-size", split = ",", defaultValue = "16,64",
            description = "Worker batch limits to measure (default: ${DEFAULT-VALUE}).")
    List<Integer> batchLimits;

    @Option(names = "--images", defaultValue = "5000", description = "Images at saturation per row (default: ${DEFAULT-VALUE}).")
    int images;

    @Option(names = "--warm-up-images", defaultValue = "20000",
            description = "Fewest images served at saturation before measuring, per row; more while the JIT still "
                    + "compiles (default: ${DEFAULT-VALUE}).")
    int warmUpImages;

    @Option(names = "--rounds", defaultValue = "2",
            description = "Saturation rounds per batch limit; the best is reported, against the best model-only "
                    + "measurement (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--warm-up-max-images", defaultValue = "60000",
            description = "Most images served in the warm-up while the JIT still compiles (default: ${DEFAULT-VALUE}).")
    int warmUpMaxImages;

    @Option(names = "--keep-ratio", defaultValue = "1.0", description = "Keep ratio served (default: ${DEFAULT-VALUE}).")
    double keepRatio;

    @Option(names = "--inference-lanes", defaultValue = "0",
            description = "Worker lanes (default 0: one per core, as the worker's default).")
    int lanes;

    @Mixin
    DataOptions data;

    @Override
    public Integer call() throws Exception {
        if (images < 100) {
            throw new UserError("--images must be at least 100, got " + images);
        }
        if (warmUpImages < 0) {
            throw new UserError("--warm-up-images must be 0 or more, got " + warmUpImages);
        }
        if (rounds < 1) {
            throw new UserError("--rounds must be at least 1, got " + rounds);
        }
        if (lanes < 0) {
            throw new UserError("--inference-lanes must be 0 (one per core) or more, got " + lanes);
        }
        int laneCount = lanes > 0 ? lanes : Runtime.getRuntime().availableProcessors();
        KeepPolicy policy = new KeepPolicy(keepRatio, KeepPolicy.Method.LEARNED, false);
        data.checkAvailable();
        PrintWriter out = spec.commandLine().getOut();
        List<String> rows = new ArrayList<>();
        List<String> phaseRows = new ArrayList<>();
        List<String> cpuRows = new ArrayList<>();
        try (ModelArtifact.Loaded loaded = ModelArtifact.load(model)) {
            KeepPolicy local = loaded.manifest().sparsifier() != null || policy.isDense() ? policy
                    : new KeepPolicy(keepRatio, KeepPolicy.Method.CLS_ATTENTION, false);
            LabeledImages test = data.test(loaded.manifest().input().height());
            List<byte[]> pngs = new ArrayList<>();
            for (int i = 0; i < Math.min(test.count(), images); i++) {
                pngs.add(test.png(i));
            }
            for (int b : batchLimits) {
                if (b < 1) {
                    throw new UserError("--batch-max-size values must be positive, got " + b);
                }
                // The baseline is the better of the two ways to run the model alone: one stream of forward passes
                // over every core, or as many streams as the worker has lanes; each the best of its measurements
                // (one before the broker starts, one after each saturation round), so that a noisy moment on this
                // shared machine lowers the ratio rather than raising it.
                double[] modelOnly = new double[2];
                measureModelOnly(loaded, test, b, local, laneCount, modelOnly);
                try (LocalServing serving = LocalServing.start(model, keepRatio, b,
                        Map.of("inference.lanes", String.valueOf(laneCount)), bootstrap -> { });
                        KafkaProducer<String, byte[]> producer = serving.producer();
                        KafkaConsumer<String, byte[]> predictions = serving.consumer(Topics.PREDICTIONS, READER)) {
                    String run = UUID.randomUUID().toString().substring(0, 8);
                    // Warm-up at saturation: the JIT compiles the Kafka clients', JSON and decoding paths, in this
                    // process and the broker's (with 500 warm-up images its threads took a third of a core during
                    // the measurement; with 20,000 under a tenth).
                    String warmUp = warmUp(producer, predictions, pngs, run);
                    out.println("batch limit " + b + ": " + warmUp);
                    out.flush();
                    WorkerMetrics wm = serving.worker.metrics();
                    double served = 0;
                    List<Prediction> sat = null;
                    String cpuRow = null;
                    String phaseRow = null;
                    List<String> perRound = new ArrayList<>();
                    for (int round = 1; round <= rounds; round++) {
                        List<Prediction> got = new ArrayList<>();
                        long[] phasesBefore = phaseNanos(wm);
                        Map<String, Double> cpuBefore = ThreadCpu.byName();
                        double brokerBefore = serving.broker.cpuTime().toNanos() / 1e9;
                        long start = System.nanoTime();
                        send(producer, pngs, run + "-sat" + round, images, 0);
                        LocalServing.collect(predictions, got, images, Duration.ofMinutes(10));
                        long wall = System.nanoTime() - start;
                        double rate = images / (wall / 1e9);
                        perRound.add(String.format(Locale.ROOT, "%.0f", rate));
                        if (rate > served) {
                            served = rate;
                            sat = got;
                            cpuRow = cpuRow(b, round, wall / 1e9, ThreadCpu.since(cpuBefore, ThreadCpu.byName(), 0.05),
                                    serving.broker.cpuTime().toNanos() / 1e9 - brokerBefore, images);
                            phaseRow = phaseRow(b, phasesBefore, phaseNanos(wm), wall, laneCount, images);
                        }
                        // The worker idles meanwhile (no input): its lanes are free for the model-only passes.
                        measureModelOnly(loaded, test, b, local, laneCount, modelOnly);
                    }
                    cpuRows.add(cpuRow);
                    phaseRows.add(phaseRow);
                    double oneStream = modelOnly[0];
                    double inLanes = modelOnly[1];
                    double bestModelOnly = Math.max(oneStream, inLanes);
                    String at50 = latencies(producer, predictions, pngs, run + "-50", images / 2, 0.5 * served);
                    String at90 = latencies(producer, predictions, pngs, run + "-90", images / 2, 0.9 * served);
                    String row = String.format(Locale.ROOT, "| %d | %.0f | %.0f | %.0f (%s) | %.2f | %s | %s | %s |", b,
                            oneStream, inLanes, served, String.join(", ", perRound), served / bestModelOnly,
                            percentiles(sat), at50, at90);
                    rows.add(row);
                    out.println("measured batch limit " + b);
                    out.flush();
                }
            }
            out.printf(Locale.ROOT, "%nmodel %s, keep ratio %.2f, %d cores shared by broker, worker and producer; "
                    + "worker with %d inference lane(s); PNG inputs; one run%n%n", loaded.manifest().version(),
                    keepRatio, Runtime.getRuntime().availableProcessors(), laneCount);
            out.printf(Locale.ROOT, "Model-only: best of %d measurements (before the broker starts, after each saturation "
                    + "round); served: best of %d saturation rounds of %d images (each round in brackets)%n%n",
                    rounds + 1, rounds, images);
            out.printf(Locale.ROOT, "| batch limit | model-only images/s, 1 stream | model-only, %d streams | served "
                    + "images/s (saturation) | served / best model-only | e2e ms p50/p95/p99 at saturation | "
                    + "at 50%% load | at 90%% load |%n", laneCount);
            out.println("|---:|---:|---:|---:|---:|---|---|---|");
            rows.forEach(out::println);
            out.println();
            out.println("Where the worker's time goes in the best saturation round, ms per image: forward on the lanes (share of");
            out.println("lanes x wall time), the other phases on the loop thread (share of wall time); 'other' is the loop");
            out.println("thread outside its phases (between batches, the run's start and end).");
            out.println();
            StringBuilder header = new StringBuilder("| batch limit |");
            StringBuilder rule = new StringBuilder("|---:|");
            for (Phase ph : Phase.values()) {
                header.append(' ').append(ph.name().toLowerCase(Locale.ROOT)).append(" |");
                rule.append("---:|");
            }
            out.println(header.append(" other |"));
            out.println(rule.append("---:|"));
            phaseRows.forEach(out::println);
            out.println();
            out.printf(Locale.ROOT, "CPU seconds used during the best saturation round, of %d cores x wall time: the broker process,"
                    + " and this process's threads by name%n('inference lanes': the forward passes, with any PyTorch"
                    + " threads they start; '%s': the worker's loop thread; 'main': the benchmark's producer and"
                    + " reader)%n%n", Runtime.getRuntime().availableProcessors(), LocalServing.WORKER_THREAD);
            cpuRows.forEach(out::println);
        }
        out.flush();
        return 0;
    }

    private static String cpuRow(int batch, int round, double wallSeconds, Map<String, Double> threads, double broker,
            int images) {
        double capacity = wallSeconds * Runtime.getRuntime().availableProcessors();
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT,
                "batch limit %d (round %d): wall %.1f s, capacity %.1f CPU s; broker %.1f (%.0f%%, %.3f ms per image)",
                batch, round, wallSeconds, capacity, broker, 100 * broker / capacity, 1e3 * broker / images));
        threads.entrySet().stream().sorted(Map.Entry.<String, Double>comparingByValue().reversed())
                .forEach(e -> sb.append(String.format(Locale.ROOT, ", %s %.1f (%.0f%%)", e.getKey(), e.getValue(),
                        100 * e.getValue() / capacity)));
        return sb.toString();
    }

    /**
     * Serves at saturation until the JIT has settled: at least --warm-up-images, then 5,000 more at a time while this
     * process's compilers took more than 2% of a chunk's wall time, up to --warm-up-max-images. A long-running
     * worker is past its JIT; in a 20,000-image warm-up the compilers still took 6-10% of the two cores during the
     * measurement.
     */
    private String warmUp(KafkaProducer<String, byte[]> producer, KafkaConsumer<String, byte[]> predictions,
            List<byte[]> pngs, String run) throws InterruptedException {
        java.lang.management.CompilationMXBean jit = java.lang.management.ManagementFactory.getCompilationMXBean();
        int served = 0;
        int chunk = 0;
        double share = Double.NaN;
        while (served < warmUpImages || (share > 0.02 && served < warmUpMaxImages)) {
            int n = served < warmUpImages ? warmUpImages : 5000;
            long compileBefore = jit.getTotalCompilationTime();
            long start = System.nanoTime();
            send(producer, pngs, run + "-warm" + chunk++, n, 0);
            LocalServing.collect(predictions, new ArrayList<>(), n, Duration.ofMinutes(10));
            share = (jit.getTotalCompilationTime() - compileBefore) / ((System.nanoTime() - start) / 1e6);
            served += n;
        }
        return String.format(Locale.ROOT, "warm-up %d images; JIT compilation in the last %s: %.1f%% of its wall time",
                served, served > warmUpImages ? "5,000" : "warm-up", 100 * share);
    }

    /** Raises {@code best} ([one stream, one stream per lane]) to this measurement's images/s where higher. */
    private static void measureModelOnly(ModelArtifact.Loaded loaded, LabeledImages test, int batch, KeepPolicy policy,
            int laneCount, double[] best) {
        best[0] = Math.max(best[0], Throughput.imagesPerSecond(loaded.model(), loaded.manifest().input(), test, batch,
                3, policy, 1));
        best[1] = Math.max(best[1], Throughput.imagesPerSecond(loaded.model(), loaded.manifest().input(), test, batch,
                3, policy, laneCount));
    }

    private static String phaseRow(int batch, long[] before, long[] after, long wall, int laneCount, int images) {
        StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "| %d |", batch));
        long accounted = 0;
        for (Phase ph : Phase.values()) {
            long ns = after[ph.ordinal()] - before[ph.ordinal()];
            // The forward pass runs on the lanes, everything else on the loop thread.
            double of = ph == Phase.FORWARD ? (double) wall * laneCount : wall;
            accounted += ph == Phase.FORWARD ? 0 : ns;
            row.append(String.format(Locale.ROOT, " %.3f (%.0f%%) |", ns / 1e6 / images, 100.0 * ns / of));
        }
        row.append(String.format(Locale.ROOT, " %.3f (%.0f%%) |", (wall - accounted) / 1e6 / images,
                100.0 * (wall - accounted) / wall));
        return row.toString();
    }

    private static long[] phaseNanos(WorkerMetrics metrics) {
        long[] out = new long[Phase.values().length];
        for (Phase ph : Phase.values()) {
            out[ph.ordinal()] = metrics.phaseNanos(ph);
        }
        return out;
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
