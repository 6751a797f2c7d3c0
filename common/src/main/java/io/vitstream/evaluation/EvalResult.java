package io.vitstream.evaluation;

/**
 * Outcome of an evaluation run.
 *
 * @param confusion [true class][predicted class] counts
 * @param imagesPerSecond preprocessing plus forward pass, after one warm-up batch
 */
public record EvalResult(int count, int correct, int batch, long[][] confusion, double seconds, double imagesPerSecond) {
    public double accuracy() {
        return count == 0 ? 0 : (double) correct / count;
    }

    /** Accuracy per true class (NaN for a class with no examples). */
    public double[] perClassAccuracy() {
        double[] acc = new double[confusion.length];
        for (int c = 0; c < confusion.length; c++) {
            long total = 0;
            for (long v : confusion[c]) {
                total += v;
            }
            acc[c] = total == 0 ? Double.NaN : (double) confusion[c][c] / total;
        }
        return acc;
    }
}
