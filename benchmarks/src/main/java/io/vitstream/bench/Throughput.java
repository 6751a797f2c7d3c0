package io.vitstream.bench;

import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import java.util.function.IntFunction;

/**
 * Images/s of forward passes on real images at a fixed batch size, for benchmark tables (never for tests). It knows
 * no engine: a pass is a {@code Consumer<float[]>} of one batch of normalised pixels, and whoever calls sets the
 * engine's threads.
 */
final class Throughput {
    private Throughput() {}

    /**
     * Runs {@code streams} streams side by side (one runs on the calling thread), each {@code passOfStream.apply(i)}
     * over batches of real test images for about {@code seconds} after 3 warm-up batches, and returns their images/s
     * together. Inputs are prepared beforehand, so the figure is preprocessing-free forward passes. On each stream's
     * thread {@code onStreamThread} runs first (a benchmark pins it to cores there), then {@code passOfStream}: an
     * engine it opens is built on that thread.
     */
    static double imagesPerSecond(InputSpec input, LabeledImages data, int batch, double seconds, int streams,
            IntFunction<Consumer<float[]>> passOfStream, Runnable onStreamThread) {
        if (streams == 1) {
            onStreamThread.run();
            return oneStream(input, data, batch, seconds, passOfStream.apply(0));
        }
        ExecutorService pool = Executors.newFixedThreadPool(streams);
        try {
            List<Future<Double>> each = new ArrayList<>();
            for (int i = 0; i < streams; i++) {
                int stream = i;
                each.add(pool.submit(() -> {
                    onStreamThread.run();
                    return oneStream(input, data, batch, seconds, passOfStream.apply(stream));
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
