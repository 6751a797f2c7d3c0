package io.vitstream.bench;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.engine.EngineKind;
import io.vitstream.engine.InferenceEngine;
import io.vitstream.model.KeepPolicy;
import io.vitstream.util.UserError;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Images/s of several (model, keep policy) rows on several engines, measured the way the benchmarks compare them:
 * interleaved rounds (every row on every engine once per round, so a noisy spell on the shared machine hits all
 * alike), best round kept, for each stream configuration: one stream of forward passes over every core, and as many
 * one-threaded streams as a worker has inference lanes.
 */
final class Timing {
    private Timing() {}

    /** One row to time. */
    record Timed(ModelArtifact.Loaded model, KeepPolicy policy) {
        InputSpec input() {
            return model.manifest().input();
        }
    }

    /**
     * How forward passes run side by side: {@code count} streams (threads calling the engine), {@code threads}
     * intra-op threads each, all on one engine (one ONNX Runtime session, as a worker's lanes share their model's) or
     * one engine per stream.
     */
    record Streams(int count, int threads, boolean enginePerStream) {
        /** {@code count} streams sharing one engine, the cores shared out between them. */
        static Streams of(int count) {
            return new Streams(count, Math.max(1, Runtime.getRuntime().availableProcessors() / count), false);
        }

        /** How the configuration reads in table headers: "2 streams x 1 thread". */
        String label() {
            return String.format(Locale.ROOT, "%d stream%s x %d thread%s%s", count, count == 1 ? "" : "s", threads,
                    threads == 1 ? "" : "s", enginePerStream && count > 1 ? ", an engine each" : "");
        }
    }

    /** {@code 0} in {@code --streams}: one stream per core, the worker's default lanes. */
    static List<Streams> streams(List<Integer> option) {
        List<Streams> out = new ArrayList<>();
        for (int s : option) {
            if (s < 0) {
                throw new UserError("--streams values must be 0 (one per core) or positive, got " + s);
            }
            Streams c = Streams.of(s == 0 ? Runtime.getRuntime().availableProcessors() : s);
            if (!out.contains(c)) {
                out.add(c);
            }
        }
        return out;
    }

    /** How a stream count sharing one engine reads in table headers. */
    static String label(int streams) {
        return Streams.of(streams).label();
    }

    /**
     * Table header cells for the timed columns: images/s and speed-up per stream configuration; with
     * {@code versusPyTorch}, also the speed-up over the base row on PyTorch.
     */
    static String headerCells(List<Streams> streams, boolean versusPyTorch) {
        StringBuilder sb = new StringBuilder();
        for (Streams c : streams) {
            sb.append(" images/s, ").append(c.label()).append(" | speed-up |");
            if (versusPyTorch) {
                sb.append(" vs dense on pytorch |");
            }
        }
        return sb.toString();
    }

    /** The alignment row's cells for {@link #headerCells}. */
    static String ruleCells(List<Streams> streams, boolean versusPyTorch) {
        return (versusPyTorch ? "---:|---:|---:|" : "---:|---:|").repeat(streams.size());
    }

    /**
     * A row's timed cells: images/s and the speed-up over {@code base} in the same configuration, and over
     * {@code pyTorchBase} where not null.
     */
    static String cells(double[] ips, double[] base, double[] pyTorchBase) {
        StringBuilder sb = new StringBuilder();
        for (int c = 0; c < ips.length; c++) {
            sb.append(String.format(Locale.ROOT, " %.0f | %.2fx |", ips[c], ips[c] / base[c]));
            if (pyTorchBase != null) {
                sb.append(String.format(Locale.ROOT, " %.2fx |", ips[c] / pyTorchBase[c]));
            }
        }
        return sb.toString();
    }

    /**
     * Images/s of {@code row} on {@code kind} in configuration {@code s}; {@code onStreamThread} runs first on each
     * stream's thread, before its engine is opened there.
     */
    static double imagesPerSecond(BenchEngines engines, EngineKind kind, Timed row, Streams s, LabeledImages data,
            int batch, double seconds, Runnable onStreamThread) {
        BenchEngines.usePyTorchThreads(kind, s.threads());
        return Throughput.imagesPerSecond(row.input(), data, batch, seconds, s.count(), stream -> {
            InferenceEngine engine = engines.engine(kind, row.model(), row.policy(), s.threads(),
                    s.enginePerStream() ? stream : 0);
            return pixels -> engine.logits(pixels, batch, row.policy());
        }, onStreamThread);
    }

    /** Best images/s per row (first index), engine (second) and stream configuration (third). */
    static double[][][] best(BenchEngines engines, List<Timed> rows, List<EngineKind> kinds, List<Streams> streams,
            LabeledImages data, int batch, double seconds, int rounds) {
        double[][][] best = new double[rows.size()][kinds.size()][streams.size()];
        for (int round = 0; round < rounds; round++) {
            for (int s = 0; s < streams.size(); s++) {
                for (int i = 0; i < rows.size(); i++) {
                    for (int k = 0; k < kinds.size(); k++) {
                        best[i][k][s] = Math.max(best[i][k][s], imagesPerSecond(engines, kinds.get(k), rows.get(i),
                                streams.get(s), data, batch, seconds, () -> { }));
                    }
                }
            }
        }
        return best;
    }

    /**
     * Best images/s of each row's embedding alone ({@code VitModel.embedOnly}) on PyTorch, in interleaved rounds as
     * {@link #best}: what part of a forward pass the stem and patch projection take. PyTorch only: ONNX Runtime runs
     * whole-model graphs.
     */
    static double[] bestEmbedding(List<Timed> rows, Streams s, LabeledImages data, int batch, double seconds,
            int rounds) {
        double[] best = new double[rows.size()];
        for (int round = 0; round < rounds; round++) {
            for (int i = 0; i < rows.size(); i++) {
                Timed row = rows.get(i);
                BenchEngines.usePyTorchThreads(EngineKind.PYTORCH, s.threads());
                best[i] = Math.max(best[i], Throughput.imagesPerSecond(row.input(), data, batch, seconds, s.count(),
                        stream -> pixels -> row.model().model().embedOnly(pixels, batch), () -> { }));
            }
        }
        return best;
    }
}
