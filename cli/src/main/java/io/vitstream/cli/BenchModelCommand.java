package io.vitstream.cli;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.LabeledImages;
import io.vitstream.sparsity.KeepPolicy;
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
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code vitstream bench model}: images/s of a model at several batch sizes, its achieved GFLOP/s, and the
 * machine's sgemm peak through the same engine, measured in the same run.
 */
@Command(name = "model", mixinStandardHelpOptions = true,
        description = {
            "Throughput of a model at batch 1, 16 and 64 (real Fashion-MNIST test images), its FLOPs per image,",
            "achieved GFLOP/s, and the sgemm peak of this machine through the same engine, as a ratio."
        })
final class BenchModelCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", defaultValue = "${sys:vitstream.home:-.}/models/base", description = "Model directory (default: ${DEFAULT-VALUE}).")
    Path model;

    @Mixin
    DataOptions data;

    @Option(names = "--batches", split = ",", defaultValue = "1,16,64",
            description = "Batch sizes, comma-separated (default: ${DEFAULT-VALUE}).")
    List<Integer> batches;

    @Option(names = "--seconds", defaultValue = "4", description = "Measuring time per row (default: ${DEFAULT-VALUE}).")
    double seconds;

    @Option(names = "--json", description = "Also print one JSON object on the last line.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (!(seconds > 0)) {
            throw new UserError("--seconds must be positive, got " + seconds);
        }
        for (int b : batches) {
            if (b < 1) {
                throw new UserError("--batches: batch sizes must be positive, got " + b);
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        data.checkAvailable();
        Map<String, Object> result = new LinkedHashMap<>();
        try (ModelArtifact.Loaded loaded = ModelArtifact.load(model)) {
            LabeledImages test = data.test(loaded.manifest().input().height());
            long flops = loaded.manifest().flopsPerImage();
            double peak = sgemmPeak(seconds);
            out.printf(Locale.ROOT, "model %s: %.2f MFLOPs/image, %,d parameters; engine %s %s, %d threads%n",
                    loaded.manifest().version(), flops / 1e6, loaded.manifest().parameters(),
                    Engine.getInstance().getEngineName(), Engine.getInstance().getVersion(),
                    Runtime.getRuntime().availableProcessors());
            out.printf(Locale.ROOT, "sgemm peak (1024x1024x1024 matMul, same engine): %.1f GFLOP/s%n%n", peak);
            out.println("| batch | images/s | ms/batch | GFLOP/s | % of sgemm peak |");
            out.println("|------:|---------:|---------:|--------:|----------------:|");
            List<Map<String, Object>> rows = new ArrayList<>();
            for (int b : batches) {
                double ips = Throughput.imagesPerSecond(loaded.model(), loaded.manifest().input(), test, b, seconds,
                        KeepPolicy.dense());
                double gflops = ips * flops / 1e9;
                out.printf(Locale.ROOT, "| %5d | %8.0f | %8.2f | %7.2f | %14.1f%% |%n", b, ips, 1000.0 * b / ips, gflops,
                        100 * gflops / peak);
                out.flush();
                rows.add(Map.of("batch", b, "images_per_second", ips, "gflops", gflops, "peak_ratio", gflops / peak));
            }
            result.put("model_version", loaded.manifest().version());
            result.put("flops_per_image", flops);
            result.put("sgemm_peak_gflops", peak);
            result.put("rows", rows);
        }
        if (json) {
            out.println(Json.MAPPER.writeValueAsString(result));
        }
        out.flush();
        return 0;
    }

    /** Achieved GFLOP/s of a large square matMul (2 n^3 FLOPs), best of a few timed rounds. */
    static double sgemmPeak(double seconds) {
        int n = 1024;
        double best = 0;
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray a = m.randomUniform(-1, 1, new Shape(n, n));
            NDArray b = m.randomUniform(-1, 1, new Shape(n, n));
            a.matMul(b).close();
            long end = System.nanoTime() + (long) (seconds * 1e9);
            while (System.nanoTime() < end) {
                long t = System.nanoTime();
                int reps = 4;
                for (int r = 0; r < reps; r++) {
                    a.matMul(b).close();
                }
                double secs = (System.nanoTime() - t) / 1e9;
                best = Math.max(best, reps * 2.0 * n * n * n / secs / 1e9);
            }
        }
        return best;
    }
}
