package io.vitstream.cli;

import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.controller.Controller;
import io.vitstream.data.LabeledImages;
import io.vitstream.engine.EngineKind;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import io.vitstream.util.UserError;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code vitstream demo}: the whole serving path on one machine with nothing installed. Starts a real single-node
 * Kafka broker from the Maven artifacts, signs and publishes the model to {@code vit.models}, activates it through
 * {@code vit.control}, runs an inference worker, streams labelled Fashion-MNIST test images (PNG) to
 * {@code vit.images} in phases, turning the keep-ratio knob live between phases, plus a few malformed inputs, and
 * reports what came back on {@code vit.predictions} and {@code vit.dlq}.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {
            "Run the serving path end to end on this machine: embedded Kafka broker (KRaft), signed model publication,",
            "an inference worker, Fashion-MNIST test images streamed in phases while the keep ratio is turned live,",
            "malformed inputs to the dead-letter topic; then a table of accuracy, latency, FLOPs and tokens per phase,",
            "and it goes on serving (a live line every 5 s) until Ctrl-C or --duration, for any Kafka client to use.",
            "The controller runs alongside (admin URL and token printed). With --slo-ms, the controller's loop acts",
            "instead: keep ratio stepped down, a re-prune job, the new version as canary, promotion; each step printed."
        })
final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", description = "Model to serve (default: models/sparse if present, else models/base).")
    Path model;

    @Option(names = "--images", defaultValue = "2000", description = "Test images per phase (default: ${DEFAULT-VALUE}).")
    int images;

    @Option(names = "--ratios", split = ",", defaultValue = "1.0,0.7,0.5",
            description = "Keep ratio of each phase, set live through vit.control (default: ${DEFAULT-VALUE}).")
    List<Double> ratios;

    @Option(names = "--batch-max-size", defaultValue = "64", description = "Worker micro-batch size (default: ${DEFAULT-VALUE}).")
    int batchMaxSize;

    @Option(names = "--timeout-s", defaultValue = "300", description = "Give up waiting for a phase after this long (default: ${DEFAULT-VALUE}).")
    int timeoutSeconds;

    @Option(names = "--slo-ms", description = {"Instead of the keep-ratio phases, stream at --rate and let the"
            + " loops work against this p95 latency SLO (ms): the worker adapts its keep ratio within the bounds, the"
            + " controller re-prunes when it sits at the floor, canary, promotion."})
    Double sloMs;

    @Option(names = "--rate", defaultValue = "200", description = "Images per second with --slo-ms (default: ${DEFAULT-VALUE}).")
    int rate;

    @Option(names = "--duration-s", defaultValue = "900", description = "Longest run with --slo-ms (default: ${DEFAULT-VALUE}).")
    int durationSeconds;

    @Option(names = "--serve", description = "Skip the keep-ratio phases: start everything and serve at once.")
    boolean serveOnly;

    @Option(names = "--duration", paramLabel = "SECONDS", description = {"After the phases (or with --serve at once),"
            + " serve this long, printing a live line every 5 s; without it, serve until Ctrl-C."})
    Integer serveSeconds;

    @Mixin
    DataOptions data;

    @Mixin
    EngineOption engine;

    @Override
    public Integer call() throws Exception {
        // The demo's screen is its output: Kafka's transient start-up warnings (topics being created) would drown it.
        for (String quiet : new String[] {"org.apache.kafka.clients.NetworkClient", "org.apache.kafka.streams"}) {
            System.setProperty("org.slf4j.simpleLogger.log." + quiet,
                    System.getProperty("org.slf4j.simpleLogger.log." + quiet, "error"));
        }
        if (images < 1 || images > 10_000) {
            throw new UserError("--images must be in 1..10000, got " + images);
        }
        if (sloMs != null && !(sloMs > 0)) {
            throw new UserError("--slo-ms must be positive, got " + sloMs);
        }
        if (rate < 1 || rate > 100_000) {
            throw new UserError("--rate must be in 1..100000, got " + rate);
        }
        if (serveSeconds != null && serveSeconds < 1) {
            throw new UserError("--duration must be at least 1 second, got " + serveSeconds);
        }
        if (durationSeconds < 10) {
            throw new UserError("--duration-s must be at least 10, got " + durationSeconds);
        }
        for (double r : ratios) {
            new io.vitstream.model.KeepPolicy(r, io.vitstream.model.KeepPolicy.Method.LEARNED, false);
        }
        EngineKind engineKind = engine.kind();
        Path home = Path.of(System.getProperty("vitstream.home", "."));
        Path served = model != null ? model
                : Files.isDirectory(home.resolve("models/sparse")) ? home.resolve("models/sparse") : home.resolve("models/base");
        Manifest manifest = ModelArtifact.readManifest(served);
        data.checkAvailable();
        LabeledImages test = data.test(manifest.input().height());
        PrintWriter out = spec.commandLine().getOut();
        out.printf(Locale.ROOT, "model %s from %s (%s)%n", manifest.version(), served,
                manifest.sparsifier() != null ? "learned token predictors, stages " + manifest.sparsifier().stages()
                        : "dense; keep ratios below 1.0 use the CLS-attention ranking");
        out.println("starting a single-node Kafka broker (KRaft, child JVM) on 127.0.0.1 ...");
        out.flush();
        String[] bootstrapAddress = new String[1];
        try (LocalServing local = LocalServing.start(served, ratios.get(0), batchMaxSize,
                Map.of("engine", engineKind.id()), bootstrap -> {
            bootstrapAddress[0] = bootstrap;
            out.println("broker up at " + bootstrap + " (any Kafka client can produce to " + Topics.IMAGES
                    + " and read " + Topics.PREDICTIONS + " while the demo runs); topics: " + String.join(", ", Topics.ALL));
            out.flush();
        });
                KafkaProducer<String, byte[]> producer = local.producer();
                KafkaConsumer<String, byte[]> predictions = local.consumer(Topics.PREDICTIONS);
                KafkaConsumer<String, byte[]> dlq = local.consumer(Topics.DLQ)) {
            out.printf(Locale.ROOT, "published %s to %s (signed) and activated it at keep ratio %.2f; worker %s running"
                    + " on %s, metrics at http://127.0.0.1:%d/metrics%n", local.version, Topics.MODELS, ratios.get(0),
                    local.worker.workerId(), engineKind.resolve(), local.http.port());
            Map<String, String> controllerSettings = sloMs == null ? Map.of("policy.enabled", "false")
                    : DemoLoop.settings(sloMs, data.dataDir);
            Controller controller = local.startController(controllerSettings);
            String admin = "http://127.0.0.1:" + controller.adminPort();
            out.printf(Locale.ROOT, "controller running (policy %s): admin API %s, token %s%n  try: curl -H"
                    + " 'Authorization: Bearer %s' %s/status    (Prometheus: %s/metrics)%n",
                    sloMs == null ? "paused: the phases below turn the keep ratio" : "on", admin, local.adminToken,
                    local.adminToken, admin, admin);
            out.flush();
            if (sloMs != null) {
                DemoLoop.run(out, local, controller, test, rate, Duration.ofSeconds(durationSeconds));
                return 0;
            }
            Duration serveFor = serveSeconds == null ? null : Duration.ofSeconds(serveSeconds);
            if (serveOnly) {
                DemoServe.run(out, local, bootstrapAddress[0], admin, predictions, dlq, serveFor);
                return 0;
            }
            String run = UUID.randomUUID().toString().substring(0, 8);
            List<Phase> phases = new ArrayList<>();
            int offset = 0;
            for (int p = 0; p < ratios.size(); p++) {
                double ratio = ratios.get(p);
                if (p > 0) {
                    local.setKeepRatio(ratio);
                }
                Phase phase = new Phase(ratio);
                long start = System.nanoTime();
                for (int i = 0; i < images; i++) {
                    int idx = (offset + i) % test.count();
                    RecordHeaders h = new RecordHeaders();
                    h.add(Topics.HEADER_LABEL, String.valueOf(test.labels()[idx]).getBytes(StandardCharsets.US_ASCII));
                    producer.send(new ProducerRecord<>(Topics.IMAGES, null, run + "-" + p + "-" + i,
                            test.png(idx), h));
                }
                producer.flush();
                offset += images;
                LocalServing.collect(predictions, phase.predictions, images, Duration.ofSeconds(timeoutSeconds));
                phase.seconds = (System.nanoTime() - start) / 1e9;
                phases.add(phase);
                out.printf(Locale.ROOT, "phase %d: keep ratio %.2f, %d predictions in %.1f s%n", p + 1, ratio,
                        phase.count(), phase.seconds);
                out.flush();
            }
            // Bad input: never lost, never fatal.
            byte[][] bad = {new byte[0], "not an image at all".getBytes(StandardCharsets.UTF_8),
                Arrays.copyOf(test.png(0), 40)};
            for (int i = 0; i < bad.length; i++) {
                producer.send(new ProducerRecord<>(Topics.IMAGES, run + "-bad-" + i, bad[i]));
            }
            producer.flush();
            List<String> reasons = new ArrayList<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (reasons.size() < bad.length && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, byte[]> r : dlq.poll(Duration.ofMillis(200))) {
                    var header = r.headers().lastHeader(Topics.HEADER_ERROR);
                    reasons.add(r.key() + " -> " + (header == null ? "?" : new String(header.value(),
                            StandardCharsets.UTF_8)) + " (" + r.value().length + " original bytes kept)");
                }
            }
            print(out, manifest, phases, reasons, batchMaxSize);
            DemoServe.run(out, local, bootstrapAddress[0], admin, predictions, dlq, serveFor);
        }
        out.flush();
        return 0;
    }

    /** Predictions gathered for one keep-ratio phase. */
    private static final class Phase {
        final double ratio;
        final List<Prediction> predictions = new ArrayList<>();
        double seconds;

        Phase(double ratio) {
            this.ratio = ratio;
        }

        int count() {
            return predictions.size();
        }
    }

    private static void print(PrintWriter out, Manifest manifest, List<Phase> phases, List<String> reasons,
            int batchMaxSize) {
        out.println();
        out.printf(Locale.ROOT, "%d-core machine, model %s, one worker, batches of up to %d; read_committed predictions%n",
                Runtime.getRuntime().availableProcessors(), manifest.version(), batchMaxSize);
        out.println("| keep ratio | predictions | accuracy | p50 / p95 end-to-end ms | mean inference ms | "
                + "MFLOPs/image | tokens per block | images/s |");
        out.println("|---:|---:|---:|---:|---:|---:|---|---:|");
        for (Phase p : phases) {
            long correct = p.predictions.stream().filter(x -> x.label() != null && x.label() == x.classIndex()).count();
            double[] e2e = p.predictions.stream().mapToDouble(Prediction::endToEndMs).sorted().toArray();
            double inf = p.predictions.stream().mapToDouble(Prediction::inferenceMs).average().orElse(0);
            double flops = p.predictions.stream().mapToLong(Prediction::flops).average().orElse(0);
            List<Integer> tokens = p.predictions.isEmpty() ? List.of() : p.predictions.get(p.count() - 1).tokensKept();
            out.printf(Locale.ROOT, "| %.2f | %d | %.4f | %.1f / %.1f | %.2f | %.2f | %s | %.0f |%n", p.ratio, p.count(),
                    (double) correct / Math.max(1, p.count()), LocalServing.quantile(e2e, 0.5), LocalServing.quantile(e2e, 0.95), inf,
                    flops / 1e6, tokens, p.count() / p.seconds);
        }
        out.println();
        out.println("malformed inputs on " + Topics.DLQ + ":");
        reasons.forEach(r -> out.println("  " + r));
    }

}
