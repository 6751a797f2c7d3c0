package io.vitstream.cli;

import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.model.VitModel;
import io.vitstream.sparsity.KeepPolicy;

/** Images/s of a model on real images at a fixed batch size, for benchmark tables (never for tests). */
final class Throughput {
    private Throughput() {}

    /**
     * Runs batches of real test images for about {@code seconds} after 3 warm-up batches; inputs are prepared
     * beforehand so the figure is preprocessing-free forward passes.
     */
    static double imagesPerSecond(VitModel model, InputSpec input, LabeledImages data, int batch, double seconds,
            KeepPolicy policy) {
        int[] order = new int[batch];
        float[][] inputs = new float[8][];
        for (int k = 0; k < inputs.length; k++) {
            for (int i = 0; i < batch; i++) {
                order[i] = (k * batch + i) % data.count();
            }
            inputs[k] = input.batch(data, order, 0, batch);
        }
        for (int i = 0; i < 3; i++) {
            model.logits(inputs[i % inputs.length], batch, policy);
        }
        long images = 0;
        long start = System.nanoTime();
        long deadline = start + (long) (seconds * 1e9);
        int k = 0;
        while (System.nanoTime() < deadline) {
            model.logits(inputs[k++ % inputs.length], batch, policy);
            images += batch;
        }
        return images / ((System.nanoTime() - start) / 1e9);
    }
}
