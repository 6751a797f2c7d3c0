package io.vitstream.bench;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.cli.DataOptions;
import io.vitstream.cli.EngineOption;
import io.vitstream.cli.LocalServing;
import io.vitstream.data.LabeledImages;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.util.UserError;
import java.awt.Color;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code vitstream bench soak}: one worker on the embedded broker at a steady rate for a long time, sampling its
 * process's memory (resident set, Java heap, the native rest: ONNX Runtime's or PyTorch's arenas and the JVM's own),
 * the consumer lag as this client sees it and the p95 latency, to show that nothing grows while it serves.
 */
@Command(name = "soak", mixinStandardHelpOptions = true,
        description = {"A long steady load on one worker on the embedded broker: resident memory, Java heap, native",
            "memory (ONNX Runtime / PyTorch and the JVM's own), lag and p95 sampled over time; a table every minute,",
            "a summary with the resident memory's trend, and a PNG of the memory over time."})
final class BenchSoakCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", defaultValue = "${sys:vitstream.home:-.}/models/sparse",
            description = "Model directory (default: ${DEFAULT-VALUE}).")
    Path model;

    @Option(names = "--minutes", defaultValue = "30", description = "How long the load runs (default: ${DEFAULT-VALUE}).")
    double minutes;

    @Option(names = "--rate", defaultValue = "0",
            description = "Images per second (default 0: 80%% of the dense capacity, measured first).")
    double rate;

    @Option(names = "--keep-ratio", defaultValue = "1.0", description = "Fixed keep ratio served (default: ${DEFAULT-VALUE}).")
    double keepRatio;

    @Option(names = "--batch-max-size", defaultValue = "32", description = "Worker batch limit (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--sample-s", defaultValue = "10", description = "Seconds between samples (default: ${DEFAULT-VALUE}).")
    int sampleS;

    @Option(names = "--plot", defaultValue = "bench-soak.png", description = "PNG written (default: ${DEFAULT-VALUE}).")
    Path plot;

    @Mixin
    EngineOption engine;

    @Mixin
    DataOptions data;

    /** One sample of the process and the traffic. */
    record Sample(double minutes, double rssMb, double heapUsedMb, double heapCommittedMb, double nonHeapMb,
            double directMb, double nativeMb, double brokerRssMb, long sent, long answered, double p95Ms,
            double imagesPerS) {}

    @Override
    public Integer call() throws Exception {
        if (!(minutes > 0)) {
            throw new UserError("--minutes must be positive, got " + minutes);
        }
        if (rate < 0) {
            throw new UserError("--rate must be 0 (80% of capacity) or positive, got " + rate);
        }
        if (!(keepRatio > 0 && keepRatio <= 1)) {
            throw new UserError("--keep-ratio must be in (0, 1], got " + keepRatio);
        }
        if (sampleS < 1) {
            throw new UserError("--sample-s must be at least 1, got " + sampleS);
        }
        if (!Files.isReadable(Path.of("/proc/self/status"))) {
            throw new UserError("bench soak reads the resident set from /proc (Linux only)");
        }
        data.checkAvailable();
        PrintWriter out = spec.commandLine().getOut();
        LabeledImages test;
        try (ModelArtifact.Loaded loaded = ModelArtifact.load(model)) {
            test = data.test(loaded.manifest().input().height());
        }
        List<byte[]> pngs = LocalServing.pngs(test);
        Map<String, String> worker = Map.of("engine", engine.kind().resolve().name().toLowerCase(Locale.ROOT));
        try (LocalServing serving = LocalServing.start(model, 1.0, batch, worker, b -> { })) {
            serving.awaitReady(Duration.ofMinutes(2));
            double r = rate;
            if (r == 0) {
                r = 0.8 * BenchAdaptCommand.measureCapacity(serving, pngs, test, 6000, out);
            }
            serving.setControl(ControlMessage.active(serving.version, keepRatio));
            Thread.sleep(2000);
            out.printf(Locale.ROOT, "model %s (%s), engine %s, batch %d, keep %.2f, %.0f images/s for %.0f min, a "
                    + "sample every %d s; memory of this JVM (worker, load generator and reader) and the broker's;"
                    + " native = RSS - resident heap (its mapping's Rss) - non-heap - direct buffers (the engines'"
                    + " arenas, thread stacks, the JVM's own)%n",
                    model.getFileName(), serving.version, engine.kind().resolve().name().toLowerCase(Locale.ROOT),
                    batch, keepRatio, r, minutes, sampleS);
            out.flush();
            List<Sample> samples = soak(serving, pngs, test, r, out);
            summarise(out, samples);
            writePlot(samples);
            out.println("plot: " + plot.toAbsolutePath());
        }
        return 0;
    }

    private List<Sample> soak(LocalServing serving, List<byte[]> pngs, LabeledImages test, double r, PrintWriter out)
            throws Exception {
        // Send times in a ring indexed by sequence number: the load generator's memory stays flat whatever the length.
        int ring = (int) Math.max(1024, r * 300);
        long[] sentAt = new long[ring];
        AtomicLong sent = new AtomicLong();
        AtomicReference<Exception> failure = new AtomicReference<>();
        long totalNanos = (long) (minutes * 60e9);
        List<Sample> samples = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> reader = BenchAdaptCommand.reader(serving);
                KafkaProducer<String, byte[]> producer = serving.producer()) {
            long start = System.nanoTime();
            Thread sender = new Thread(() -> {
                try {
                    for (long n = 0; ; n++) {
                        long due = start + (long) (n * 1e9 / r);
                        if (due - start >= totalNanos) {
                            break;
                        }
                        long wait = due - System.nanoTime();
                        if (wait > 200_000) {
                            Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                        }
                        sentAt[(int) (n % ring)] = System.currentTimeMillis();
                        int i = (int) (n % test.count());
                        producer.send(BenchAdaptCommand.record("soak-" + n, pngs.get(i % pngs.size()),
                                test.labels()[i]));
                        sent.set(n + 1);
                    }
                    producer.flush();
                } catch (Exception e) {
                    failure.set(e);
                }
            }, "bench-soak-sender");
            sender.start();
            out.println();
            out.println("| minute | RSS MB | heap used / committed MB | non-heap MB | direct MB | native MB | broker RSS MB"
                    + " | images/s | lag | p95 ms |");
            out.println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            out.flush();
            long answered = 0;
            long nextSample = start + sampleS * 1_000_000_000L;
            long lastAnswered = 0;
            long lastSampleNanos = start;
            double[] latencies = new double[1 << 16];
            int nLat = 0;
            int lastPrintedMinute = -1;
            long end = start + totalNanos + Duration.ofSeconds(30).toNanos();
            while (System.nanoTime() < end) {
                for (ConsumerRecord<String, byte[]> rec : reader.poll(Duration.ofMillis(50))) {
                    long now = System.currentTimeMillis();
                    long seq = Long.parseLong(rec.key().substring(5));
                    if (sent.get() - seq < ring) {
                        double l = now - sentAt[(int) (seq % ring)];
                        if (nLat == latencies.length) {
                            latencies = Arrays.copyOf(latencies, nLat * 2);
                        }
                        latencies[nLat++] = l;
                    }
                    answered++;
                }
                long nowNanos = System.nanoTime();
                if (nowNanos >= nextSample) {
                    double[] l = Arrays.copyOf(latencies, nLat);
                    Arrays.sort(l);
                    double elapsedS = (nowNanos - lastSampleNanos) / 1e9;
                    Sample s = sample((nowNanos - start) / 60e9, sent.get(), answered,
                            LocalServing.quantile(l, 0.95), (answered - lastAnswered) / elapsedS);
                    samples.add(s);
                    nLat = 0;
                    lastAnswered = answered;
                    lastSampleNanos = nowNanos;
                    nextSample += sampleS * 1_000_000_000L;
                    int minute = (int) Math.floor(s.minutes());
                    if (minute != lastPrintedMinute) {
                        lastPrintedMinute = minute;
                        out.printf(Locale.ROOT, "| %.1f | %.0f | %.0f / %.0f | %.0f | %.1f | %.0f | %.0f | %.0f | %d | %.0f |%n",
                                s.minutes(), s.rssMb(), s.heapUsedMb(), s.heapCommittedMb(), s.nonHeapMb(),
                                s.directMb(), s.nativeMb(), s.brokerRssMb(), s.imagesPerS(), s.sent() - s.answered(),
                                s.p95Ms());
                        out.flush();
                    }
                }
                if (!sender.isAlive() && answered >= sent.get()) {
                    break;
                }
            }
            sender.join();
        }
        if (failure.get() != null) {
            throw failure.get();
        }
        return samples;
    }

    private static Sample sample(double minutes, long sent, long answered, double p95, double perS) {
        MemoryMXBean mem = ManagementFactory.getMemoryMXBean();
        double heapUsed = mem.getHeapMemoryUsage().getUsed() / 1e6;
        double heapCommitted = mem.getHeapMemoryUsage().getCommitted() / 1e6;
        double nonHeap = mem.getNonHeapMemoryUsage().getCommitted() / 1e6;
        double direct = 0;
        for (BufferPoolMXBean pool : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            direct += pool.getMemoryUsed() / 1e6;
        }
        double rss = rssMb(Path.of("/proc/self/status"));
        double broker = ProcessHandle.current().children()
                .mapToDouble(p -> rssMb(Path.of("/proc/" + p.pid() + "/status"))).sum();
        // What the JVM does not account for: the engines' native arenas, thread stacks, malloc'd JVM internals. The
        // heap's share of the resident set is its own mapping's (committed heap is not all resident, and heap the
        // collector gives back may stay resident), so it is read from /proc/self/smaps, not from the MXBean.
        double nativeMb = rss - heapResidentMb(Path.of("/proc/self/smaps")) - nonHeap - direct;
        return new Sample(minutes, rss, heapUsed, heapCommitted, nonHeap, direct, nativeMb, broker, sent, answered,
                p95, perS);
    }

    /**
     * The resident part of the Java heap in MB: the Rss of the largest mapping of the process, which is the heap's
     * reservation (-Xmx, one contiguous range for the collectors the launcher uses); 0 when unreadable.
     */
    static double heapResidentMb(Path smaps) {
        long bestSize = -1;
        long bestRss = 0;
        long size = 0;
        try (java.io.BufferedReader r = Files.newBufferedReader(smaps)) {
            for (String line = r.readLine(); line != null; line = r.readLine()) {
                if (line.startsWith("Size:")) {
                    size = Long.parseLong(line.replaceAll("[^0-9]", ""));
                } else if (line.startsWith("Rss:") && size > bestSize) {
                    bestSize = size;
                    bestRss = Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
        return bestRss / 1024.0 * 1.048576;
    }

    /** VmRSS of a /proc status file in MB, 0 when it cannot be read (a process that just ended). */
    static double rssMb(Path status) {
        try {
            for (String line : Files.readAllLines(status)) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0 * 1.048576;
                }
            }
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
        return 0;
    }

    /**
     * The trend that matters: a least-squares line through the resident set after the first fifth of the run
     * (warm-up: the JIT, the heap and the arenas reach their working size), in MB per 10 minutes, against the samples'
     * spread around it.
     */
    private void summarise(PrintWriter out, List<Sample> samples) {
        List<Sample> steady = samples.subList(Math.min(samples.size() - 1, samples.size() / 5), samples.size());
        out.println();
        for (String what : List.of("RSS", "native", "heap used", "broker RSS")) {
            double[] x = steady.stream().mapToDouble(Sample::minutes).toArray();
            double[] y = steady.stream().mapToDouble(s -> switch (what) {
                case "RSS" -> s.rssMb();
                case "native" -> s.nativeMb();
                case "heap used" -> s.heapUsedMb();
                default -> s.brokerRssMb();
            }).toArray();
            double[] fit = fit(x, y);
            double spread = 0;
            for (int i = 0; i < x.length; i++) {
                spread = Math.max(spread, Math.abs(y[i] - (fit[0] + fit[1] * x[i])));
            }
            out.printf(Locale.ROOT, "%s after minute %.1f: %.0f -> %.0f MB, trend %+.1f MB per 10 min (samples within"
                    + " %.0f MB of the line)%n", what, x.length == 0 ? 0 : x[0], y.length == 0 ? 0 : y[0],
                    y.length == 0 ? 0 : y[y.length - 1], fit[1] * 10, spread);
        }
        double[] p95 = samples.stream().mapToDouble(Sample::p95Ms).filter(v -> !Double.isNaN(v)).sorted().toArray();
        out.printf(Locale.ROOT, "p95 per sample: median %.0f ms, worst %.0f ms; lag at the end: %d%n",
                LocalServing.quantile(p95, 0.5), p95.length == 0 ? Double.NaN : p95[p95.length - 1],
                samples.isEmpty() ? 0 : samples.get(samples.size() - 1).sent()
                        - samples.get(samples.size() - 1).answered());
        out.flush();
    }

    /** Least squares: {intercept, slope}. */
    static double[] fit(double[] x, double[] y) {
        int n = x.length;
        if (n < 2) {
            return new double[] {n == 1 ? y[0] : 0, 0};
        }
        double mx = Arrays.stream(x).average().orElse(0);
        double my = Arrays.stream(y).average().orElse(0);
        double sxy = 0;
        double sxx = 0;
        for (int i = 0; i < n; i++) {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
        }
        double slope = sxx == 0 ? 0 : sxy / sxx;
        return new double[] {my - slope * mx, slope};
    }

    private void writePlot(List<Sample> samples) throws IOException {
        ScatterPlot p = new ScatterPlot("bench soak: memory over time", "minutes", "MB");
        p.add(series("resident set (this JVM)", new Color(0x1f77b4), samples, Sample::rssMb));
        p.add(series("Java heap used", new Color(0x2ca02c), samples, Sample::heapUsedMb));
        p.add(series("native (RSS - resident heap - non-heap - direct)", new Color(0xd62728), samples,
                Sample::nativeMb));
        p.add(series("broker resident set", new Color(0x7f7f7f), samples, Sample::brokerRssMb));
        p.write(plot);
    }

    private static ScatterPlot.Series series(String name, Color color, List<Sample> samples,
            java.util.function.ToDoubleFunction<Sample> f) {
        List<ScatterPlot.Point> pts = new ArrayList<>();
        for (Sample s : samples) {
            pts.add(new ScatterPlot.Point(s.minutes(), f.applyAsDouble(s), null));
        }
        return new ScatterPlot.Series(name, color, true, pts);
    }
}
