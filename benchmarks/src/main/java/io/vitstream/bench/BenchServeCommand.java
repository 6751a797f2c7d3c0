package io.vitstream.bench;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.cli.DataOptions;
import io.vitstream.cli.LocalServing;
import io.vitstream.data.LabeledImages;
import io.vitstream.engine.EngineKind;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.VitModel;
import io.vitstream.serving.WorkerMetrics.Phase;
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
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code vitstream bench serve}: end-to-end images/s and latency through the broker against the model-only images/s
 * of the same model at the same batch size, measured in the same run.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {
            "Serving benchmark on this machine: embedded broker + one worker + a producer, either on shared cores or",
            "split (the worker on half the cores, the broker and the producer on the others: --placement).",
            "Per worker engine (--engine), placement and batch limit: model-only images/s on the worker's engine and",
            "cores (forward passes on prepared tensors, best of several measurements: one stream over the worker's",
            "cores, and one stream per lane on one shared engine as the lanes share it), served images/s at",
            "saturation (best of --rounds)",
            "(PNG images produced as fast as possible, read_committed predictions), their ratio, and end-to-end",
            "latency p50/p95/p99 at 50%% and 90%% of the saturation rate."
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

    @Option(names = "--placement", split = ",", defaultValue = "shared,split", paramLabel = "shared|split",
            description = {"Where the worker runs: shared (broker, worker and load generator on every core) and/or",
                "split (this JVM's threads but the benchmark's own, that is the worker with the JIT and GC, on half",
                "the cores; the broker and the benchmark's producer and reader on the others; needs Linux, taskset and",
                "jcmd, else skipped unless asked for) (default: ${DEFAULT-VALUE})."})
    List<String> placementNames;

    @Option(names = "--keep-ratio", defaultValue = "1.0", description = "Keep ratio served (default: ${DEFAULT-VALUE}).")
    double keepRatio;

    @Option(names = "--inference-lanes", defaultValue = "0",
            description = "Worker lanes with the shared placement (default 0: one per core, as the worker's default); "
                    + "split runs one one-threaded lane per worker core.")
    int lanes;

    @Option(names = "--engine", defaultValue = "auto", paramLabel = "auto|onnxruntime|pytorch|both",
            description = {"The worker's engine (setting engine), also what the model-only figures run on; both: every",
                "row once per engine (default: ${DEFAULT-VALUE})."})
    String engine;

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
        int laneCount = lanes > 0 ? lanes : Placement.cores();
        List<EngineKind> kinds = BenchEngines.parse(engine);
        List<Placement> placements = new ArrayList<>();
        for (String name : placementNames) {
            try {
                placements.add(Placement.valueOf(name.trim().toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw new UserError("--placement takes shared and/or split, got '" + name + "'");
            }
        }
        harnessThreadName = Thread.currentThread().getName();
        if (placements.contains(Placement.SPLIT)) {
            boolean asked = spec.commandLine().getParseResult().hasMatchedOption("--placement");
            try {
                if (Placement.cores() < 2) {
                    throw new UserError("--placement split needs at least 2 cores, this machine has "
                            + Placement.cores());
                }
                CpuPlacement.check();
            } catch (UserError e) {
                if (asked) {
                    throw e;
                }
                placements.remove(Placement.SPLIT);
                spec.commandLine().getOut().println("placement split skipped: " + e.getMessage());
            }
        }
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
            }
            for (EngineKind kind : kinds) {
                for (Placement placement : placements) {
                    for (int b : batchLimits) {
                        Row row = measure(loaded, test, pngs, local, b, placement, laneCount, kind);
                        rows.add(row.table());
                        phaseRows.add(row.phases());
                        cpuRows.add(row.cpu());
                        out.println("measured " + BenchEngines.label(kind) + ", batch limit " + b + ", "
                                + placement.describe(laneCount) + "; " + row.warmUp());
                        out.flush();
                    }
                }
            }
            out.printf(Locale.ROOT, "%nmodel %s, keep ratio %.2f, %d cores; worker engine %s; PNG inputs; one run. "
                    + "Placement 'shared': "
                    + "broker, worker (%d lane(s)) and load generator on every core; 'split': this JVM but the "
                    + "benchmark's threads (the worker, the JIT, the GC) on cores %s (%d one-threaded lane(s), "
                    + "model-only on the same cores), the broker and the load generator (the benchmark's producer and "
                    + "reader) on cores %s, as a worker with its own machine would run%n%n", loaded.manifest().version(),
                    keepRatio, Placement.cores(), BenchEngines.labels(kinds), laneCount, Placement.SPLIT.workerCpus(),
                    Placement.SPLIT.workerCores(), Placement.SPLIT.harnessCpus());
            out.printf(Locale.ROOT, "Model-only: on the worker's engine and cores, best of %d measurements (before the "
                    + "broker starts, after each saturation round), streams x intra-op threads each as in the cells "
                    + "(the lanes' streams share one engine, as the worker's lanes share their model's); served: best of"
                    + " %d saturation rounds of %d images (each round in brackets)%n%n", rounds + 1, rounds, images);
            out.println("| engine | placement | batch limit | model-only images/s, 1 stream | model-only, 1 stream per "
                    + "lane | served images/s (saturation) | served / best model-only | e2e ms p50/p95/p99 at "
                    + "saturation | at 50% load | at 90% load |");
            out.println("|---|---|---:|---:|---:|---:|---:|---|---|---|");
            rows.forEach(out::println);
            out.println();
            out.println("Where the worker's time goes in the best saturation round, ms per image: forward on the lanes (share of");
            out.println("lanes x wall time), the other phases on the loop thread (share of wall time); 'other' is the loop");
            out.println("thread outside its phases (between batches, the run's start and end).");
            out.println();
            StringBuilder header = new StringBuilder("| engine | placement | batch limit |");
            StringBuilder rule = new StringBuilder("|---|---|---:|");
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
                    + " reader)%n%n", Placement.cores(), LocalServing.WORKER_THREAD);
            cpuRows.forEach(out::println);
        }
        out.flush();
        return 0;
    }

    /** One table row, its phase row, its CPU line and how long it warmed up. */
    private record Row(String table, String phases, String cpu, String warmUp) {}

    /**
     * Where the worker runs relative to the broker and the load generator. {@code SPLIT} gives the worker's process
     * the first half of the cores (at least one), one one-threaded lane per core, and the broker, the benchmark's
     * producer and reader the rest: the shape of a worker on its own machine, imitated on one.
     */
    enum Placement {
        SHARED, SPLIT;

        /**
         * The CPUs this process may use, read once before anything is pinned (the JVM's availableProcessors() counts
         * the calling thread's set, which pinning changes); in a cpuset they need not start at 0.
         */
        private static final List<Integer> CPUS = allowedCpus();

        private static List<Integer> allowedCpus() {
            try {
                return List.copyOf(CpuPlacement.parseCpuList(CpuPlacement.currentThreadCpus()));
            } catch (java.io.IOException | RuntimeException e) {
                // No /proc (not Linux): only the shared placement runs there, which pins nothing.
                return java.util.stream.IntStream.range(0, Runtime.getRuntime().availableProcessors()).boxed().toList();
            }
        }

        static int cores() {
            return CPUS.size();
        }

        static String allCpus() {
            return CpuPlacement.cpuList(CPUS);
        }

        int workerCores() {
            return this == SHARED ? cores() : Math.max(1, cores() / 2);
        }

        String workerCpus() {
            return CpuPlacement.cpuList(CPUS.subList(0, workerCores()));
        }

        String harnessCpus() {
            return this == SHARED ? allCpus() : CpuPlacement.cpuList(CPUS.subList(workerCores(), cores()));
        }

        String label() {
            return name().toLowerCase(Locale.ROOT);
        }

        String describe(int sharedLanes) {
            return this == SHARED ? "shared cores, " + sharedLanes + " lane(s)"
                    : "split: worker on cores " + workerCpus() + ", broker and load generator on " + harnessCpus();
        }
    }

    /** The thread this command runs on: the benchmark's producer sends and its reader polls there. */
    private String harnessThreadName;

    /** The benchmark's own threads (producer, reader): with the broker, off the worker's cores when split. */
    private boolean harnessThread(String javaName) {
        return javaName.equals(harnessThreadName) || javaName.contains(BENCH_PRODUCER)
                || javaName.contains(LocalServing.READER_GROUP);
    }

    private static final String BENCH_PRODUCER = "bench-producer";

    private Row measure(ModelArtifact.Loaded loaded, LabeledImages test, List<byte[]> pngs, KeepPolicy local, int b,
            Placement placement, int sharedLanes, EngineKind kind) throws Exception {
        boolean split = placement == Placement.SPLIT;
        int lanes = split ? placement.workerCores() : sharedLanes;
        int threadsPerLane = Math.max(1, placement.workerCores() / lanes);
        Map<String, String> settings = Map.of("inference.lanes", String.valueOf(lanes), "inference.threads",
                String.valueOf(threadsPerLane), "engine", kind.id());
        List<Timing.Streams> modelOnlyStreams = List.of(new Timing.Streams(1, placement.workerCores(), false),
                new Timing.Streams(lanes, threadsPerLane, false));
        // The baseline is the better of the two ways to run the model alone on the worker's cores: one stream of
        // forward passes over all of them, or one one-threaded stream per lane; each the best of its measurements (one
        // before the broker starts, one after each saturation round), so that a noisy moment on this shared machine
        // lowers the ratio rather than raising it.
        double[] modelOnly = new double[2];
        // The engines of the model-only passes, opened on the worker's cores by the first measurement (an ONNX
        // Runtime session's thread pool keeps the CPU set of the thread that built it).
        try (BenchEngines engines = new BenchEngines()) {
            measureModelOnly(engines, kind, loaded, test, b, local, placement, modelOnlyStreams, modelOnly);
            return serve(loaded, test, pngs, local, b, placement, kind, settings, lanes, engines, modelOnlyStreams,
                    modelOnly);
        }
    }

    /** The saturation rounds and latencies of one row, model-only measured again after each round. */
    private Row serve(ModelArtifact.Loaded loaded, LabeledImages test, List<byte[]> pngs, KeepPolicy local, int b,
            Placement placement, EngineKind kind, Map<String, String> settings, int lanes, BenchEngines engines,
            List<Timing.Streams> modelOnlyStreams, double[] modelOnly) throws Exception {
        boolean split = placement == Placement.SPLIT;
        try (LocalServing serving = LocalServing.start(model, keepRatio, b, settings, bootstrap -> { });
                KafkaProducer<String, byte[]> producer = serving.producer(BENCH_PRODUCER);
                KafkaConsumer<String, byte[]> predictions = serving.consumer(Topics.PREDICTIONS, READER)) {
            String run = UUID.randomUUID().toString().substring(0, 8);
            if (split) {
                // Every thread exists once the worker has served a batch; pin before the warm-up so that the JIT warms
                // up the code as it will run.
                send(producer, pngs, run + "-first", b, 0);
                LocalServing.collect(predictions, new ArrayList<>(), b, Duration.ofMinutes(2));
                place(serving, placement);
            }
            String warmUp = warmUp(producer, predictions, pngs, run);
            MeterRegistry wm = serving.registry;
            double served = 0;
            List<Prediction> sat = null;
            String cpuRow = null;
            String phaseRow = null;
            List<String> perRound = new ArrayList<>();
            for (int round = 1; round <= rounds; round++) {
                if (split) {
                    place(serving, placement); // threads started since (none expected) join their side too
                }
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
                    cpuRow = cpuRow(kind, placement, b, round, wall / 1e9, ThreadCpu.since(cpuBefore, ThreadCpu.byName(), 0.05),
                            serving.broker.cpuTime().toNanos() / 1e9 - brokerBefore, images);
                    phaseRow = phaseRow(kind, placement, b, phasesBefore, phaseNanos(wm), wall, lanes, images);
                }
                // The worker idles meanwhile (no input): its cores are free for the model-only passes.
                measureModelOnly(engines, kind, loaded, test, b, local, placement, modelOnlyStreams, modelOnly);
            }
            double bestModelOnly = Math.max(modelOnly[0], modelOnly[1]);
            String at50 = latencies(producer, predictions, pngs, run + "-50", images / 2, 0.5 * served);
            String at90 = latencies(producer, predictions, pngs, run + "-90", images / 2, 0.9 * served);
            String table = String.format(Locale.ROOT, "| %s | %s | %d | %.0f (%s) | %.0f (%s) | %.0f (%s) | %.2f | %s | "
                    + "%s | %s |", BenchEngines.label(kind), placement.label(), b, modelOnly[0],
                    modelOnlyStreams.get(0).label(), modelOnly[1], modelOnlyStreams.get(1).label(), served,
                    String.join(", ", perRound), served / bestModelOnly, percentiles(sat), at50, at90);
            return new Row(table, phaseRow, cpuRow, warmUp);
        } finally {
            if (split) {
                // Whatever happened, the rest of this JVM gets every CPU back (later rows, a caller's threads).
                CpuPlacement.pinThisJvm(name -> true, Placement.allCpus(), Placement.allCpus());
            }
        }
    }

    /** The broker and the benchmark's threads on the harness cores, the rest of this JVM on the worker's. */
    private void place(LocalServing serving, Placement placement) {
        CpuPlacement.pinProcess(serving.broker.pid(), placement.harnessCpus());
        int[] placed = CpuPlacement.pinThisJvm(this::harnessThread, placement.harnessCpus(), placement.workerCpus());
        if (placed[0] == 0 || placed[1] == 0) {
            throw new UserError("could not split this JVM's threads (" + placed[0] + " benchmark, " + placed[1]
                    + " worker): jcmd listed none of one side");
        }
    }

    private static String cpuRow(EngineKind kind, Placement placement, int batch, int round, double wallSeconds,
            Map<String, Double> threads, double broker, int images) {
        double capacity = wallSeconds * Placement.cores();
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT,
                "%s, %s, batch limit %d (round %d): wall %.1f s, capacity %.1f CPU s; broker %.1f (%.0f%%, %.3f ms per "
                + "image)", BenchEngines.label(kind), placement.label(), batch, round, wallSeconds, capacity, broker,
                100 * broker / capacity, 1e3 * broker / images));
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

    /**
     * Raises {@code best} (one per stream configuration: one stream over the worker's cores, one stream per lane) to
     * this measurement's images/s on the worker's engine where higher; split, on the worker's cores. PyTorch's
     * process-wide threads are the worker's again after (its lanes run with them).
     */
    private static void measureModelOnly(BenchEngines engines, EngineKind kind, ModelArtifact.Loaded loaded,
            LabeledImages test, int batch, KeepPolicy policy, Placement placement, List<Timing.Streams> streams,
            double[] best) {
        boolean split = placement == Placement.SPLIT;
        Runnable onStream = split ? () -> CpuPlacement.pinCurrentThread(placement.workerCpus()) : () -> { };
        int pyTorchThreads = VitModel.intraOpThreads();
        Timing.Timed row = new Timing.Timed(loaded, policy);
        try {
            for (int s = 0; s < streams.size(); s++) {
                best[s] = Math.max(best[s], Timing.imagesPerSecond(engines, kind, row, streams.get(s), test, batch, 3,
                        onStream));
            }
        } finally {
            VitModel.setIntraOpThreads(pyTorchThreads);
            if (split) {
                CpuPlacement.pinCurrentThread(placement.harnessCpus());
            }
        }
    }

    private static String phaseRow(EngineKind kind, Placement placement, int batch, long[] before, long[] after,
            long wall, int laneCount, int images) {
        StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "| %s | %s | %d |", BenchEngines.label(kind),
                placement.label(), batch));
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

    /** Total time the worker spent in each phase so far: its {@code inference.batch.phase} timers. */
    private static long[] phaseNanos(MeterRegistry registry) {
        long[] out = new long[Phase.values().length];
        for (Phase ph : Phase.values()) {
            Timer t = registry.find("inference.batch.phase").tag("phase", ph.name().toLowerCase(Locale.ROOT)).timer();
            out[ph.ordinal()] = t == null ? 0 : (long) t.totalTime(TimeUnit.NANOSECONDS);
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
