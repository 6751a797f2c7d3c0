package io.vitstream.cli;

import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.model.VitModel;
import io.vitstream.sparsity.KeepPolicy;
import io.vitstream.util.UserError;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Images/s of several (model, keep policy) rows measured the way the benchmarks compare them: interleaved rounds
 * (every row once per round, so a noisy spell on the shared machine hits all rows alike), best round kept, for each
 * stream configuration: one stream of forward passes over every core, and as many one-threaded streams as a
 * worker has inference lanes.
 */
final class Timing {
    private Timing() {}

    /** One row to time. */
    record Timed(VitModel model, InputSpec input, KeepPolicy policy) {}

    /** {@code 0} in {@code --streams}: one stream per core, the worker's default lanes. */
    static List<Integer> streams(List<Integer> option) {
        List<Integer> out = new ArrayList<>();
        for (int s : option) {
            if (s < 0) {
                throw new UserError("--streams values must be 0 (one per core) or positive, got " + s);
            }
            int n = s == 0 ? Runtime.getRuntime().availableProcessors() : s;
            if (!out.contains(n)) {
                out.add(n);
            }
        }
        return out;
    }

    /** How a stream count reads in table headers. */
    static String label(int streams) {
        int threads = Math.max(1, Runtime.getRuntime().availableProcessors() / streams);
        return String.format(Locale.ROOT, "%d stream%s x %d thread%s", streams, streams == 1 ? "" : "s", threads,
                threads == 1 ? "" : "s");
    }

    /** Table header cells for the timed columns: images/s and speed-up per stream configuration. */
    static String headerCells(List<Integer> streams) {
        StringBuilder sb = new StringBuilder();
        for (int c : streams) {
            sb.append(" images/s, ").append(label(c)).append(" | speed-up |");
        }
        return sb.toString();
    }

    /** The alignment row's cells for {@link #headerCells}. */
    static String ruleCells(List<Integer> streams) {
        return "---:|---:|".repeat(streams.size());
    }

    /** A row's timed cells: images/s and the speed-up over {@code base} in the same configuration. */
    static String cells(double[] ips, double[] base) {
        StringBuilder sb = new StringBuilder();
        for (int c = 0; c < ips.length; c++) {
            sb.append(String.format(Locale.ROOT, " %.0f | %.2fx |", ips[c], ips[c] / base[c]));
        }
        return sb.toString();
    }

    /** Best images/s per row (first index) and stream count (second index). */
    static double[][] best(List<Timed> rows, List<Integer> streams, LabeledImages data, int batch, double seconds,
            int rounds) {
        return bestOf(rows, streams, rounds, (t, s) -> Throughput.imagesPerSecond(t.model(), t.input(), data, batch,
                seconds, t.policy(), s));
    }

    /**
     * Best images/s of each row's embedding alone at one stream count, in interleaved rounds as {@link #best}: what
     * part of a forward pass the stem and patch projection take.
     */
    static double[] bestEmbedding(List<Timed> rows, int streams, LabeledImages data, int batch, double seconds,
            int rounds) {
        double[][] best = bestOf(rows, List.of(streams), rounds, (t, s) -> Throughput.embeddingImagesPerSecond(
                t.model(), t.input(), data, batch, seconds, s));
        return java.util.Arrays.stream(best).mapToDouble(r -> r[0]).toArray();
    }

    /** One measurement of a row at a stream count, in images/s. */
    private interface Measure {
        double imagesPerSecond(Timed row, int streams);
    }

    /** Interleaved rounds: every row once per round and stream count; the best round kept. */
    private static double[][] bestOf(List<Timed> rows, List<Integer> streams, int rounds, Measure measure) {
        double[][] best = new double[rows.size()][streams.size()];
        for (int round = 0; round < rounds; round++) {
            for (int s = 0; s < streams.size(); s++) {
                for (int i = 0; i < rows.size(); i++) {
                    best[i][s] = Math.max(best[i][s], measure.imagesPerSecond(rows.get(i), streams.get(s)));
                }
            }
        }
        return best;
    }
}
