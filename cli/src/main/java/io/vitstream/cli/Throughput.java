package io.vitstream.cli;

import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.model.VitModel;
import io.vitstream.sparsity.KeepPolicy;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/** Images/s of a model on real images at a fixed batch size, for benchmark tables (never for tests). */
final class Throughput {
    private Throughput() {}

    /**
     * Runs batches of real test images for about {@code seconds} after 3 warm-up batches; inputs are prepared
     * beforehand so the figure is preprocessing-free forward passes.
     */
    static double imagesPerSecond(VitModel model, InputSpec input, LabeledImages data, int batch, double seconds,
            KeepPolicy policy) {
        return imagesPerSecond(model, input, data, batch, seconds, policy, 1);
    }

    /**
     * As above with {@code streams} threads running forward passes side by side on the same model, as a worker's
     * inference lanes do, each with cores / streams intra-op threads (restored after).
     */
    static double imagesPerSecond(VitModel model, InputSpec input, LabeledImages data, int batch, double seconds,
            KeepPolicy policy, int streams) {
        return imagesPerSecond(model, input, data, batch, seconds, policy, streams,
                Runtime.getRuntime().availableProcessors(), () -> { });
    }

    /**
     * As above on {@code cores} cores: cores / streams intra-op threads each; {@code onStreamThread} runs first on
     * each stream's thread (a benchmark pins it to cores there; one stream runs on the calling thread).
     */
    static double imagesPerSecond(VitModel model, InputSpec input, LabeledImages data, int batch, double seconds,
            KeepPolicy policy, int streams, int cores, Runnable onStreamThread) {
        return imagesPerSecond(input, data, batch, seconds, pixels -> model.logits(pixels, batch, policy), streams,
                cores, onStreamThread);
    }

    /**
     * Images/s of the embedding alone ({@link VitModel#embedOnly}), measured as {@link #imagesPerSecond(VitModel,
     * InputSpec, LabeledImages, int, double, KeepPolicy, int)} measures whole forward passes.
     */
    static double embeddingImagesPerSecond(VitModel model, InputSpec input, LabeledImages data, int batch,
            double seconds, int streams) {
        return imagesPerSecond(input, data, batch, seconds, pixels -> model.embedOnly(pixels, batch), streams,
                Runtime.getRuntime().availableProcessors(), () -> { });
    }

    private static double imagesPerSecond(InputSpec input, LabeledImages data, int batch, double seconds,
            Consumer<float[]> pass, int streams, int cores, Runnable onStreamThread) {
        int before = VitModel.intraOpThreads();
        VitModel.setIntraOpThreads(Math.max(1, cores / streams));
        if (streams == 1) {
            try {
                onStreamThread.run();
                return oneStream(input, data, batch, seconds, pass);
            } finally {
                VitModel.setIntraOpThreads(before);
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(streams);
        try {
            List<Future<Double>> each = new ArrayList<>();
            for (int i = 0; i < streams; i++) {
                each.add(pool.submit(() -> {
                    onStreamThread.run();
                    return oneStream(input, data, batch, seconds, pass);
                }));
            }
            double total = 0;
            for (Future<Double> f : each) {
                total += f.get();
            }
            return total;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("forward pass failed", e.getCause());
        } finally {
            pool.shutdown();
            VitModel.setIntraOpThreads(before);
        }
    }

    private static double oneStream(InputSpec input, LabeledImages data, int batch, double seconds,
            Consumer<float[]> pass) {
        int[] order = new int[batch];
        float[][] inputs = new float[8][];
        for (int k = 0; k < inputs.length; k++) {
            for (int i = 0; i < batch; i++) {
                order[i] = (k * batch + i) % data.count();
            }
            inputs[k] = input.batch(data, order, 0, batch);
        }
        for (int i = 0; i < 3; i++) {
            pass.accept(inputs[i % inputs.length]);
        }
        long images = 0;
        long start = System.nanoTime();
        long deadline = start + (long) (seconds * 1e9);
        int k = 0;
        while (System.nanoTime() < deadline) {
            pass.accept(inputs[k++ % inputs.length]);
            images += batch;
        }
        return images / ((System.nanoTime() - start) / 1e9);
    }
}
