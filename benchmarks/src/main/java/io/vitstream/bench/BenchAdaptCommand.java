package io.vitstream.bench;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.cli.DataOptions;
import io.vitstream.cli.EngineOption;
import io.vitstream.cli.LocalServing;
import io.vitstream.controller.Controller;
import io.vitstream.data.LabeledImages;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.util.UserError;
import java.awt.Color;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code vitstream bench adapt}: effective accuracy under a load step, the measure that judges the two loops. One
 * worker on the embedded broker; its dense capacity C is measured first; then each row runs the same open-loop
 * profile of labelled test images (default 0.25 C for 30 s, 1.5 C for 120 s, 0.25 C for 30 s), timed from this
 * client's clock: an input counts as effective when its prediction is correct and visible to a read_committed reader
 * within the SLO of its send.
 */
@Command(name = "adapt", mixinStandardHelpOptions = true,
        description = {"Effective accuracy (correct and within the SLO, client clock) under a load step, one worker on",
            "the embedded broker: static dense, static keep at the floor, the controller stepping a fixed ratio, and",
            "the adaptive worker choosing each batch's ratio within [floor, 1.0]. Prints a table and writes a PNG of",
            "the adaptive row's keep ratio and p95 over time."})
final class BenchAdaptCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", defaultValue = "${sys:vitstream.home:-.}/models/sparse",
            description = "Model directory (default: ${DEFAULT-VALUE}).")
    Path model;

    @Option(names = "--slo-ms", defaultValue = "250", description = "Latency SLO in ms (default: ${DEFAULT-VALUE}).")
    double sloMs;

    @Option(names = "--floor", defaultValue = "0.5",
            description = "Keep-ratio floor of the adaptive and controller rows, and the static floor row "
                    + "(default: ${DEFAULT-VALUE}).")
    double floor;

    @Option(names = "--profile", defaultValue = "0.25:30,1.5:120,0.25:30", split = ",",
            paramLabel = "LOAD:SECONDS",
            description = {"Phases as load (a multiple of the measured dense capacity C) and seconds",
                "(default: ${DEFAULT-VALUE})."})
    List<String> profile;

    @Option(names = "--rows", defaultValue = "dense,floor,controller,adaptive", split = ",",
            description = "Rows to run, in order: dense, floor, controller, adaptive (default: ${DEFAULT-VALUE}).")
    List<String> rows;

    @Option(names = "--batch-max-size", defaultValue = "32", description = "Worker batch limit (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--capacity-images", defaultValue = "6000",
            description = "Images sent at once to measure the dense capacity C (default: ${DEFAULT-VALUE}).")
    int capacityImages;

    @Option(names = "--capacity", defaultValue = "0",
            description = "Use this dense capacity in images/s instead of measuring it (default 0: measure).")
    double givenCapacity;

    @Option(names = "--plot", defaultValue = "bench-adapt.png", description = "PNG written (default: ${DEFAULT-VALUE}).")
    Path plot;

    @Mixin
    EngineOption engine;

    @Mixin
    DataOptions data;

    /** One phase of the profile. */
    record Phase(double load, double seconds) {}

    /** One input as this client saw it. */
    private static final class Sent {
        final long sentMs;
        final int phase;
        final int label;
        volatile long seenMs = -1;
        volatile boolean correct;
        volatile double keepRatio = Double.NaN;

        Sent(long sentMs, int phase, int label) {
            this.sentMs = sentMs;
            this.phase = phase;
            this.label = label;
        }
    }

    /** One row's figures for one phase (or all of them). */
    record Figures(int inputs, double effective, double accuracy, double withinSlo, double p95Ms, double meanKeep,
            double atCeiling, double recoveryS) {}

    @Override
    public Integer call() throws Exception {
        List<Phase> phases = parseProfile(profile);
        if (!(sloMs > 0)) {
            throw new UserError("--slo-ms must be positive, got " + sloMs);
        }
        if (!(floor > 0 && floor <= 1)) {
            throw new UserError("--floor must be in (0, 1], got " + floor);
        }
        for (String r : rows) {
            if (!List.of("dense", "floor", "controller", "adaptive").contains(r)) {
                throw new UserError("--rows takes dense, floor, controller, adaptive; got '" + r + "'");
            }
        }
        io.vitstream.engine.EngineKind kind = engine.kind().resolve();
        data.checkAvailable();
        PrintWriter out = spec.commandLine().getOut();
        LabeledImages test;
        try (ModelArtifact.Loaded loaded = ModelArtifact.load(model)) {
            test = data.test(loaded.manifest().input().height());
        }
        List<byte[]> pngs = LocalServing.pngs(test);
        Map<String, String> worker = Map.of("engine", kind.name().toLowerCase(Locale.ROOT));
        try (LocalServing serving = LocalServing.start(model, 1.0, batch, worker, b -> { })) {
            serving.awaitReady(Duration.ofMinutes(2));
            String version = serving.version;
            double capacity = givenCapacity > 0 ? givenCapacity : measureCapacity(serving, pngs, test, capacityImages, out);
            out.printf(Locale.ROOT, "model %s (%s), engine %s, batch %d, %d lanes, SLO %.0f ms, floor %.2f, dense "
                    + "capacity C = %.0f images/s%s%n", model.getFileName(), version,
                    kind.name().toLowerCase(Locale.ROOT), batch, Runtime.getRuntime().availableProcessors(),
                    sloMs, floor, capacity, givenCapacity > 0 ? " (given)" : " (measured)");
            out.printf(Locale.ROOT, "profile: %s%n", String.join(", ", phases.stream().map(p -> String.format(
                    Locale.ROOT, "%.2f C = %.0f/s for %.0f s", p.load(), p.load() * capacity, p.seconds())).toList()));
            out.flush();
            Map<String, List<Figures>> results = new LinkedHashMap<>();
            List<Sent> adaptiveRun = null;
            int runIndex = 0;
            for (String row : rows) {
                Controller controller = null;
                switch (row) {
                    case "dense" -> serving.setControl(ControlMessage.active(version, 1.0));
                    case "floor" -> serving.setControl(ControlMessage.active(version, floor));
                    case "adaptive" -> serving.setControl(ControlMessage.active(version, 1.0)
                            .withBounds(floor, 1.0, sloMs));
                    case "controller" -> {
                        serving.setControl(ControlMessage.active(version, 1.0));
                        controller = serving.startController(Map.of("policy.slo.ms", fmt(sloMs),
                                "policy.keep.floor", fmt(floor), "policy.keep.mode", "fixed",
                                "policy.reprune.enabled", "false"));
                    }
                    default -> throw new IllegalStateException(row);
                }
                Thread.sleep(3000); // the control message reaches the worker; new ratios build off its hot path
                List<Sent> run = runProfile(serving, pngs, test, phases, capacity, "r" + (runIndex++) + "-" + row);
                if (controller != null) {
                    serving.stopController();
                }
                List<Figures> f = new ArrayList<>();
                for (int p = 0; p < phases.size(); p++) {
                    f.add(figures(run, p));
                }
                f.add(figures(run, -1));
                results.put(row, f);
                if (row.equals("adaptive")) {
                    adaptiveRun = run;
                }
                out.printf(Locale.ROOT, "row %s done: effective accuracy %.4f%n", row, f.get(f.size() - 1).effective());
                out.flush();
            }
            printTable(out, phases, results);
            if (adaptiveRun != null) {
                writePlot(adaptiveRun, phases);
                out.println("plot: " + plot.toAbsolutePath());
            }
        }
        return 0;
    }

    static List<Phase> parseProfile(List<String> spec) {
        List<Phase> phases = new ArrayList<>();
        for (String s : spec) {
            String[] parts = s.trim().split(":");
            try {
                if (parts.length != 2) {
                    throw new NumberFormatException();
                }
                Phase p = new Phase(Double.parseDouble(parts[0]), Double.parseDouble(parts[1]));
                if (!(p.load() > 0) || !(p.seconds() > 0)) {
                    throw new NumberFormatException();
                }
                phases.add(p);
            } catch (NumberFormatException e) {
                throw new UserError("--profile takes LOAD:SECONDS phases with positive numbers (e.g. 0.25:30,1.5:120),"
                        + " got '" + s + "'");
            }
        }
        return phases;
    }

    /**
     * The worker's dense capacity: {@code capacityImages} sent at once at keep 1.0, three times (the first warms the
     * JIT), images per second between the first quarter and the last prediction; the better of the last two (this
     * machine's speed moves; the better round is closer to what the worker can do).
     */
    static double measureCapacity(LocalServing serving, List<byte[]> pngs, LabeledImages test, int capacityImages,
            PrintWriter out) throws Exception {
        serving.setControl(ControlMessage.active(serving.version, 1.0));
        double best = 0;
        for (int round = 0; round < 3; round++) {
            List<Sent> run = new ArrayList<>();
            try (KafkaConsumer<String, byte[]> reader = reader(serving);
                    KafkaProducer<String, byte[]> producer = serving.producer()) {
                Map<String, Sent> byId = new java.util.HashMap<>();
                String prefix = "capacity-" + round + "-";
                for (int i = 0; i < capacityImages; i++) {
                    Sent s = new Sent(System.currentTimeMillis(), 0, test.labels()[i % test.count()]);
                    byId.put(prefix + i, s);
                    run.add(s);
                    producer.send(record(prefix + i, pngs.get(i % pngs.size()), s.label));
                }
                producer.flush();
                read(reader, byId, capacityImages, Duration.ofMinutes(5));
            }
            long[] seen = run.stream().mapToLong(s -> s.seenMs).sorted().toArray();
            int q = seen.length / 4;
            double rate = (seen.length - 1 - q) * 1000.0 / Math.max(1, seen[seen.length - 1] - seen[q]);
            out.printf(Locale.ROOT, "capacity round %d: %.0f images/s at keep 1.0%s%n", round + 1, rate,
                    round == 0 ? " (JIT warm-up)" : "");
            out.flush();
            if (round > 0) {
                best = Math.max(best, rate);
            }
        }
        return best;
    }

    /** Sends the profile open-loop on its own thread while this one reads the predictions; returns every input. */
    private List<Sent> runProfile(LocalServing serving, List<byte[]> pngs, LabeledImages test, List<Phase> phases,
            double capacity, String prefix) throws Exception {
        List<Sent> all = java.util.Collections.synchronizedList(new ArrayList<>());
        Map<String, Sent> byId = new java.util.concurrent.ConcurrentHashMap<>();
        AtomicReference<Exception> failure = new AtomicReference<>();
        int total = 0;
        for (Phase p : phases) {
            total += (int) Math.round(p.load() * capacity * p.seconds());
        }
        int expected = total;
        try (KafkaConsumer<String, byte[]> reader = reader(serving);
                KafkaProducer<String, byte[]> producer = serving.producer()) {
            Thread sender = new Thread(() -> {
                try {
                    long start = System.nanoTime();
                    double phaseStartS = 0;
                    int n = 0;
                    for (int p = 0; p < phases.size(); p++) {
                        Phase ph = phases.get(p);
                        double rate = ph.load() * capacity;
                        int count = (int) Math.round(rate * ph.seconds());
                        for (int i = 0; i < count; i++, n++) {
                            long due = start + (long) ((phaseStartS + i / rate) * 1e9);
                            long wait = due - System.nanoTime();
                            if (wait > 200_000) {
                                Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                            }
                            int label = test.labels()[n % test.count()];
                            Sent s = new Sent(System.currentTimeMillis(), p, label);
                            String id = prefix + "-" + n;
                            byId.put(id, s);
                            all.add(s);
                            producer.send(record(id, pngs.get(n % pngs.size()), label));
                        }
                        phaseStartS += ph.seconds();
                    }
                    producer.flush();
                } catch (Exception e) {
                    failure.set(e);
                }
            }, "bench-adapt-sender");
            sender.start();
            // Read until every input is answered, or a minute after the profile ended (the rest count as misses).
            double profileS = phases.stream().mapToDouble(Phase::seconds).sum();
            read(reader, byId, expected, Duration.ofMillis((long) ((profileS + 60) * 1000)));
            sender.join();
        }
        if (failure.get() != null) {
            throw failure.get();
        }
        return new ArrayList<>(all);
    }

    /**
     * A read_committed reader of every partition of vit.predictions from their current ends (assigned, no group:
     * nothing written from here on is missed, and nothing before is read).
     */
    static KafkaConsumer<String, byte[]> reader(LocalServing serving) {
        Map<String, Object> c = new LinkedHashMap<>(serving.broker.clientConfig());
        // Low fetch waits: when this client sees a prediction is what the SLO is judged by.
        c.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 5);
        c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5000);
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        KafkaConsumer<String, byte[]> reader = new KafkaConsumer<>(c, new StringDeserializer(),
                new ByteArrayDeserializer());
        List<TopicPartition> tps = reader.partitionsFor(Topics.PREDICTIONS).stream()
                .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
        reader.assign(tps);
        reader.seekToEnd(tps);
        tps.forEach(reader::position); // seekToEnd is lazy: fix the positions now
        return reader;
    }

    /** Reads predictions for {@code byId}'s inputs until {@code expected} are answered or {@code timeout} ends. */
    private static void read(KafkaConsumer<String, byte[]> reader, Map<String, Sent> byId, int expected,
            Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        int answered = 0;
        while (answered < expected && System.nanoTime() < deadline) {
            var polled = reader.poll(Duration.ofMillis(20));
            long now = System.currentTimeMillis();
            for (ConsumerRecord<String, byte[]> r : polled) {
                Sent s = byId.get(r.key());
                if (s == null || s.seenMs >= 0) {
                    continue;
                }
                Prediction p = Prediction.SERDE.deserialize(r.topic(), r.value());
                s.correct = p.classIndex() == s.label;
                s.keepRatio = p.keepRatio();
                s.seenMs = now;
                answered++;
            }
        }
    }

    static ProducerRecord<String, byte[]> record(String id, byte[] png, int label) {
        RecordHeaders h = new RecordHeaders();
        h.add(Topics.HEADER_LABEL, Integer.toString(label).getBytes(StandardCharsets.US_ASCII));
        return new ProducerRecord<>(Topics.IMAGES, null, id, png, h);
    }

    /** Figures of {@code phase} (-1: every phase); an unanswered input is a miss with infinite latency. */
    private Figures figures(List<Sent> run, int phase) {
        List<Sent> in = run.stream().filter(s -> phase < 0 || s.phase == phase).toList();
        int n = in.size();
        int correct = 0;
        int within = 0;
        int effective = 0;
        int atCeiling = 0;
        int answered = 0;
        double keepSum = 0;
        double[] latency = new double[n];
        for (int i = 0; i < n; i++) {
            Sent s = in.get(i);
            double l = s.seenMs < 0 ? Double.POSITIVE_INFINITY : s.seenMs - s.sentMs;
            latency[i] = l;
            boolean ok = l <= sloMs;
            correct += s.correct ? 1 : 0;
            within += ok ? 1 : 0;
            effective += ok && s.correct ? 1 : 0;
            if (s.seenMs >= 0) {
                answered++;
                keepSum += s.keepRatio;
                atCeiling += s.keepRatio >= 1.0 ? 1 : 0;
            }
        }
        Arrays.sort(latency);
        return new Figures(n, ratio(effective, n), ratio(correct, n), ratio(within, n),
                LocalServing.quantile(latency, 0.95), answered == 0 ? Double.NaN : keepSum / answered,
                ratio(atCeiling, Math.max(1, answered)), phase < 0 ? Double.NaN : recovery(in));
    }

    /**
     * Seconds from the phase's start until the p95 of each later second (by send time) is within the SLO to the
     * phase's end: 0 when it never leaves it, the phase's length when its last second is still over.
     */
    private double recovery(List<Sent> phase) {
        if (phase.isEmpty()) {
            return Double.NaN;
        }
        long t0 = phase.stream().mapToLong(s -> s.sentMs).min().orElse(0);
        int seconds = (int) ((phase.stream().mapToLong(s -> s.sentMs).max().orElse(t0) - t0) / 1000) + 1;
        List<List<Double>> buckets = new ArrayList<>();
        for (int i = 0; i < seconds; i++) {
            buckets.add(new ArrayList<>());
        }
        for (Sent s : phase) {
            buckets.get((int) ((s.sentMs - t0) / 1000)).add(s.seenMs < 0 ? Double.POSITIVE_INFINITY
                    : (double) (s.seenMs - s.sentMs));
        }
        int lastOver = -1;
        for (int i = 0; i < seconds; i++) {
            double[] l = buckets.get(i).stream().mapToDouble(Double::doubleValue).sorted().toArray();
            if (l.length > 0 && LocalServing.quantile(l, 0.95) > sloMs) {
                lastOver = i;
            }
        }
        return lastOver + 1;
    }

    private static double ratio(int a, int n) {
        return n == 0 ? Double.NaN : (double) a / n;
    }

    private void printTable(PrintWriter out, List<Phase> phases, Map<String, List<Figures>> results) {
        out.println();
        out.printf(Locale.ROOT, "| row | phase | inputs | effective accuracy | accuracy | within SLO | p95 ms | mean keep |"
                + " at keep 1.0 | p95 over SLO until |%n");
        out.println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (var e : results.entrySet()) {
            List<Figures> f = e.getValue();
            for (int p = 0; p < f.size(); p++) {
                String name = p < phases.size() ? String.format(Locale.ROOT, "%d: %.2f C, %.0f s", p + 1,
                        phases.get(p).load(), phases.get(p).seconds()) : "all";
                Figures x = f.get(p);
                out.printf(Locale.ROOT, "| %s | %s | %d | %.4f | %.4f | %.4f | %s | %.2f | %.2f | %s |%n", e.getKey(),
                        name, x.inputs(), x.effective(), x.accuracy(), x.withinSlo(),
                        Double.isInfinite(x.p95Ms()) ? "unanswered" : String.format(Locale.ROOT, "%.0f", x.p95Ms()),
                        x.meanKeep(), x.atCeiling(), Double.isNaN(x.recoveryS()) ? "" : String.format(Locale.ROOT,
                                "%.0f s", x.recoveryS()));
            }
        }
        // The oracle: the best static row in each phase, weighted by the phase's inputs.
        List<String> statics = results.keySet().stream().filter(r -> r.equals("dense") || r.equals("floor")).toList();
        if (!statics.isEmpty()) {
            double oracle = 0;
            int inputs = 0;
            for (int p = 0; p < phases.size(); p++) {
                double best = 0;
                int n = 0;
                for (String r : statics) {
                    Figures x = results.get(r).get(p);
                    best = Math.max(best, x.effective());
                    n = x.inputs();
                }
                oracle += best * n;
                inputs += n;
            }
            oracle /= inputs;
            out.printf(Locale.ROOT, "%noracle (best static row per phase, of %s): effective accuracy %.4f%n",
                    String.join(", ", statics), oracle);
            if (results.containsKey("adaptive")) {
                double a = results.get("adaptive").get(phases.size()).effective();
                double bestStatic = statics.stream().mapToDouble(r -> results.get(r).get(phases.size()).effective())
                        .max().orElse(Double.NaN);
                out.printf(Locale.ROOT, "adaptive: %.4f overall = %.3f of the oracle; %+.2f points over the best "
                        + "static row%n", a, a / oracle, 100 * (a - bestStatic));
            }
        }
        out.flush();
    }

    /** The adaptive row over time: mean keep ratio and p95 / SLO per second of send time. */
    private void writePlot(List<Sent> run, List<Phase> phases) throws java.io.IOException {
        long t0 = run.stream().mapToLong(s -> s.sentMs).min().orElse(0);
        int seconds = (int) Math.ceil(phases.stream().mapToDouble(Phase::seconds).sum());
        List<List<Sent>> buckets = new ArrayList<>();
        for (int i = 0; i <= seconds; i++) {
            buckets.add(new ArrayList<>());
        }
        for (Sent s : run) {
            int b = (int) Math.min(seconds, (s.sentMs - t0) / 1000);
            buckets.get(b).add(s);
        }
        List<ScatterPlot.Point> keep = new ArrayList<>();
        List<ScatterPlot.Point> p95 = new ArrayList<>();
        for (int i = 0; i < buckets.size(); i++) {
            List<Sent> b = buckets.get(i);
            if (b.isEmpty()) {
                continue;
            }
            double[] l = b.stream().mapToDouble(s -> s.seenMs < 0 ? Double.POSITIVE_INFINITY : s.seenMs - s.sentMs)
                    .sorted().toArray();
            double q = LocalServing.quantile(l, 0.95);
            p95.add(new ScatterPlot.Point(i, Math.min(4.0, q / sloMs), null));
            double k = b.stream().filter(s -> s.seenMs >= 0).mapToDouble(s -> s.keepRatio).average().orElse(Double.NaN);
            if (!Double.isNaN(k)) {
                keep.add(new ScatterPlot.Point(i, k, null));
            }
        }
        new ScatterPlot("bench adapt: the adaptive worker under the load step", "seconds (send time)",
                "keep ratio (mean per second); p95 / SLO (capped at 4)")
                .add(new ScatterPlot.Series("keep ratio", new Color(0x1f77b4), true, keep))
                .add(new ScatterPlot.Series("p95 / SLO", new Color(0xd62728), true, p95))
                .write(plot);
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%s", v);
    }
}
