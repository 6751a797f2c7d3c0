package io.vitstream.evaluation;

import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.engine.InferenceEngine;
import io.vitstream.engine.pytorch.PyTorchEngine;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.VitModel;

/** Top-1 accuracy, confusion matrix and throughput of a model over a labelled set, in fixed-size batches. */
public final class Evaluator {
    private Evaluator() {}

    public static EvalResult evaluate(VitModel model, InputSpec input, LabeledImages data, int batch) {
        return evaluate(model, input, data, batch, KeepPolicy.dense());
    }

    /** Evaluation with dynamic token sparsification at {@code policy}, on DJL's PyTorch engine. */
    public static EvalResult evaluate(VitModel model, InputSpec input, LabeledImages data, int batch,
            KeepPolicy policy) {
        return evaluate(PyTorchEngine.borrowing(model), model.config().numClasses(), input, data, batch, policy);
    }

    /** Evaluation on {@code engine} at {@code policy}. */
    public static EvalResult evaluate(InferenceEngine model, int classes, InputSpec input, LabeledImages data,
            int batch, KeepPolicy policy) {
        if (batch < 1) {
            throw new IllegalArgumentException("batch must be positive, got " + batch);
        }
        int n = data.count();
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        // Warm-up: the first forward pass pays for lazy native initialisation.
        int warm = Math.min(batch, n);
        if (warm > 0) {
            model.logits(input.batch(data, order, 0, warm), warm, policy);
        }
        long[][] confusion = new long[classes][classes];
        int correct = 0;
        long start = System.nanoTime();
        for (int from = 0; from < n; from += batch) {
            int to = Math.min(n, from + batch);
            float[][] logits = model.logits(input.batch(data, order, from, to), to - from, policy);
            for (int i = 0; i < logits.length; i++) {
                int predicted = argMax(logits[i]);
                int truth = data.labels()[from + i];
                confusion[truth][predicted]++;
                if (predicted == truth) {
                    correct++;
                }
            }
        }
        double secs = (System.nanoTime() - start) / 1e9;
        return new EvalResult(n, correct, batch, confusion, secs, secs > 0 ? n / secs : 0);
    }

    public static int argMax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}
