package io.vitstream.serving;

import io.vitstream.kafka.Prediction;
import io.vitstream.serving.Decoder.Accepted;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** Turns one input's logits into its {@link Prediction}: softmax, the top-k classes, the batch's costs and times. */
final class PredictionBuilder {
    private final int topK;
    private final String workerId;

    /**
     * What every prediction of one forward pass shares.
     *
     * @param tokensKept tokens entering each block at {@code keepRatio}
     * @param flops FLOPs per image at {@code keepRatio}
     * @param startMs when the forward pass started (epoch ms)
     * @param keepReason why the batch ran at {@code keepRatio} (the prediction's {@code keep_reason})
     */
    record Batch(String modelVersion, List<String> classNames, double keepRatio, String keepReason,
            List<Integer> tokensKept, long flops, long startMs, double inferenceMs) {}

    PredictionBuilder(int topK, String workerId) {
        if (topK < 1) {
            throw new IllegalArgumentException("top-k must be at least 1, got " + topK);
        }
        this.topK = topK;
        this.workerId = workerId;
    }

    /** The prediction for {@code a}, produced at {@code nowMs}; {@code teacherClass} is null when not sampled. */
    Prediction build(Accepted a, float[] logits, Integer teacherClass, Batch b, long nowMs) {
        double[] prob = softmax(logits);
        Integer[] order = new Integer[prob.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (x, y) -> Double.compare(prob[y], prob[x]));
        List<String> names = b.classNames();
        List<Prediction.TopK> top = new ArrayList<>();
        for (int i = 0; i < Math.min(topK, order.length); i++) {
            top.add(new Prediction.TopK(order[i], names.get(order[i]), prob[order[i]]));
        }
        long ts = a.record().timestamp();
        return new Prediction(Prediction.SCHEMA, a.id(), order[0], names.get(order[0]), top, b.modelVersion(),
                b.keepRatio(), b.tokensKept(), b.flops(), Math.max(0, b.startMs() - ts), b.inferenceMs(),
                Math.max(0, nowMs - ts), workerId, Instant.ofEpochMilli(nowMs).toString(), a.label(), teacherClass, b.keepReason());
    }

    /** Probabilities from logits, computed from the largest logit down so that large logits do not overflow. */
    static double[] softmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double sum = 0;
        double[] p = new double[logits.length];
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.exp(logits[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
        return p;
    }
}
