package io.vitstream.bench;

import ai.djl.engine.Engine;
import ai.onnxruntime.OrtEnvironment;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.cli.DataOptions;
import io.vitstream.data.LabeledImages;
import io.vitstream.engine.EngineKind;
import io.vitstream.model.KeepPolicy;
import io.vitstream.util.Json;
import io.vitstream.util.UserError;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code vitstream bench model}: images/s of a model at several batch sizes on each engine, its achieved GFLOP/s, and
 * the machine's sgemm peak through each engine, all measured in interleaved rounds of one run.
 */
@Command(name = "model", mixinStandardHelpOptions = true,
        description = {
            "Throughput of a model at batch 1, 16 and 64 (real Fashion-MNIST test images) on ONNX Runtime and PyTorch,",
            "its FLOPs per image, achieved GFLOP/s, and the sgemm peak of this machine through each engine (a 1024^3",
            "float product), as a ratio; every row on every engine once per round, the best round kept. With --lanes N,",
            "also N streams on one shared ONNX Runtime session against N streams each on its own session."
        })
final class BenchModelCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", defaultValue = "${sys:vitstream.home:-.}/models/base", description = "Model directory (default: ${DEFAULT-VALUE}).")
    Path model;

    @Mixin
    DataOptions data;

    @Option(names = "--engine", defaultValue = "both", paramLabel = "auto|onnxruntime|pytorch|both",
            description = "Engines timed, interleaved (default: ${DEFAULT-VALUE}).")
    String engine;

    @Option(names = "--batches", split = ",", defaultValue = "1,16,64",
            description = "Batch sizes, comma-separated (default: ${DEFAULT-VALUE}).")
    List<Integer> batches;

    @Option(names = "--seconds", defaultValue = "2",
            description = "Measuring time per row, engine and round (default: ${DEFAULT-VALUE}).")
    double seconds;

    @Option(names = "--rounds", defaultValue = "3",
            description = "Interleaved rounds; the best of each row is kept (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--threads", defaultValue = "0",
            description = "Intra-op threads of the one-stream rows and the sgemm peak (default 0: every core).")
    int threads;

    @Option(names = "--lanes", defaultValue = "1",
            description = {"Also time N streams side by side, threads/N intra-op threads each: on one shared engine,",
                "and (ONNX Runtime) on one engine per stream (default: ${DEFAULT-VALUE}: one stream only)."})
    int lanes;

    @Option(names = "--json", description = "Also print one JSON object on the last line.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (!(seconds > 0) || rounds < 1) {
            throw new UserError("--seconds and --rounds must be positive");
        }
        for (int b : batches) {
            if (b < 1) {
                throw new UserError("--batches: batch sizes must be positive, got " + b);
            }
        }
        if (threads < 0 || lanes < 1) {
            throw new UserError("--threads must be 0 (every core) or more and --lanes at least 1");
        }
        List<EngineKind> kinds = BenchEngines.parse(engine);
        int cores = Runtime.getRuntime().availableProcessors();
        int streamThreads = threads > 0 ? threads : cores;
        List<Timing.Streams> configs = new ArrayList<>(List.of(new Timing.Streams(1, streamThreads, false)));
        if (lanes > 1) {
            configs.add(new Timing.Streams(lanes, Math.max(1, streamThreads / lanes), false));
            configs.add(new Timing.Streams(lanes, Math.max(1, streamThreads / lanes), true));
        }
        PrintWriter out = spec.commandLine().getOut();
        data.checkAvailable();
        Map<String, Object> result = new LinkedHashMap<>();
        try (ModelArtifact.Loaded loaded = ModelArtifact.load(model);
                BenchEngines engines = new BenchEngines();
                SgemmPeak sgemm = new SgemmPeak(streamThreads)) {
            LabeledImages test = data.test(loaded.manifest().input().height());
            long flops = loaded.manifest().flopsPerImage();
            Timing.Timed row = new Timing.Timed(loaded, KeepPolicy.dense());
            // [batch][config][engine]; PyTorch has one engine per model, so no engine-per-stream row.
            double[][][] ips = new double[batches.size()][configs.size()][kinds.size()];
            double[] peak = new double[kinds.size()];
            out.printf(Locale.ROOT, "timing %d batch sizes x %d stream configurations x %s, %d interleaved rounds of "
                    + "%.1f s...%n", batches.size(), configs.size(), BenchEngines.labels(kinds), rounds, seconds);
            out.flush();
            for (int round = 0; round < rounds; round++) {
                for (int bi = 0; bi < batches.size(); bi++) {
                    for (int c = 0; c < configs.size(); c++) {
                        for (int k = 0; k < kinds.size(); k++) {
                            if (measured(kinds.get(k), configs.get(c))) {
                                ips[bi][c][k] = Math.max(ips[bi][c][k], Timing.imagesPerSecond(engines, kinds.get(k),
                                        row, configs.get(c), test, batches.get(bi), seconds, () -> { }));
                            }
                        }
                    }
                }
                for (int k = 0; k < kinds.size(); k++) {
                    peak[k] = Math.max(peak[k], sgemm.gflops(kinds.get(k), seconds));
                }
            }
            double machinePeak = 0;
            for (double p : peak) {
                machinePeak = Math.max(machinePeak, p);
            }
            int pyTorch = kinds.indexOf(EngineKind.PYTORCH);
            out.printf(Locale.ROOT, "%nmodel %s: %.2f MFLOPs/image, %,d parameters; %d cores; engines: %s%n",
                    loaded.manifest().version(), flops / 1e6, loaded.manifest().parameters(), cores,
                    engineVersions(kinds));
            StringBuilder peaks = new StringBuilder();
            for (int k = 0; k < kinds.size(); k++) {
                peaks.append(String.format(Locale.ROOT, "%s%s (%s) %.1f GFLOP/s", k == 0 ? "" : ", ",
                        BenchEngines.label(kinds.get(k)), SgemmPeak.how(kinds.get(k)), peak[k]));
            }
            out.printf(Locale.ROOT, "sgemm peak (%dx%d by %dx%d float product, 1 stream x %d thread%s, in every round): "
                    + "%s; %% of peak is of the highest, %.1f GFLOP/s%n", SgemmPeak.N, SgemmPeak.N, SgemmPeak.N,
                    SgemmPeak.N, streamThreads, streamThreads == 1 ? "" : "s", peaks, machinePeak);
            boolean ratio = pyTorch >= 0 && kinds.size() > 1;
            out.printf(Locale.ROOT, "images/s: best of %d interleaved rounds of %.1f s per row and engine; ms/batch per "
                    + "stream%s%n%n", rounds, seconds, ratio ? "; vs pytorch: over PyTorch's images/s at the same "
                    + "batch, streams and threads" : "");
            out.println("| batch | engine | streams x threads | images/s | ms/batch | GFLOP/s | % of sgemm peak |"
                    + (ratio ? " vs pytorch |" : ""));
            out.println("|------:|---|---|---------:|---------:|--------:|----------------:|" + (ratio ? "---:|" : ""));
            List<Map<String, Object>> rows = new ArrayList<>();
            for (int bi = 0; bi < batches.size(); bi++) {
                int b = batches.get(bi);
                for (int c = 0; c < configs.size(); c++) {
                    Timing.Streams s = configs.get(c);
                    for (int k = 0; k < kinds.size(); k++) {
                        if (!measured(kinds.get(k), s)) {
                            continue;
                        }
                        double v = ips[bi][c][k];
                        double gflops = v * flops / 1e9;
                        // Against PyTorch in the same number of streams and threads (it shares one engine).
                        double vsPyTorch = ratio ? v / ips[bi][s.enginePerStream() ? c - 1 : c][pyTorch] : Double.NaN;
                        out.printf(Locale.ROOT, "| %5d | %s | %s | %8.0f | %8.2f | %7.2f | %14.1f%% |%s%n", b,
                                BenchEngines.label(kinds.get(k)), s.label(), v, 1000.0 * b * s.count() / v, gflops,
                                100 * gflops / machinePeak,
                                ratio ? String.format(Locale.ROOT, " %.2fx |", vsPyTorch) : "");
                        Map<String, Object> r = new LinkedHashMap<>();
                        r.put("batch", b);
                        r.put("engine", BenchEngines.label(kinds.get(k)));
                        r.put("streams", s.count());
                        r.put("threads_per_stream", s.threads());
                        r.put("engine_per_stream", s.enginePerStream());
                        r.put("images_per_second", v);
                        r.put("gflops", gflops);
                        r.put("peak_ratio", gflops / machinePeak);
                        if (ratio) {
                            r.put("vs_pytorch", vsPyTorch);
                        }
                        rows.add(r);
                    }
                }
            }
            result.put("model_version", loaded.manifest().version());
            result.put("flops_per_image", flops);
            result.put("sgemm_peak_gflops", machinePeak);
            Map<String, Double> peakOf = new LinkedHashMap<>();
            for (int k = 0; k < kinds.size(); k++) {
                peakOf.put(BenchEngines.label(kinds.get(k)), peak[k]);
            }
            result.put("sgemm_peak_gflops_by_engine", peakOf);
            result.put("rows", rows);
        }
        if (json) {
            out.println(Json.MAPPER.writeValueAsString(result));
        }
        out.flush();
        return 0;
    }

    /** PyTorch runs one engine per model: an engine per stream is an ONNX Runtime row only. */
    private static boolean measured(EngineKind kind, Timing.Streams s) {
        return !(s.enginePerStream() && kind.resolve() == EngineKind.PYTORCH);
    }

    private static String engineVersions(List<EngineKind> kinds) {
        List<String> names = new ArrayList<>();
        for (EngineKind k : kinds) {
            names.add(k.resolve() == EngineKind.PYTORCH
                    ? "pytorch " + Engine.getInstance().getVersion() + " (DJL, eager)"
                    : "onnxruntime " + OrtEnvironment.getEnvironment().getVersion()
                            + " (graph written from the model, intra-op threads per session, inter-op 1)");
        }
        return String.join(", ", names);
    }
}
