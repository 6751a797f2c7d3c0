package io.vitstream.serving;

import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.engine.InferenceEngine;
import io.vitstream.model.FlopCounter;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.VitConfig;
import io.vitstream.serving.adapt.ServiceTimes;
import io.vitstream.sparsity.SparseForward;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One loaded, warmed-up model version as the worker uses it, on its inference engine. The loader thread builds it
 * and hands it over whole; the worker's lanes then call {@link #logits} side by side, and the loop thread closes it
 * only when no lane runs it.
 *
 * <p>A new keep ratio on {@code vit.control} is built by the model follower before it hands the ratio to the loop
 * ({@link #prepareKeepRatio}); one that still reaches the loop unbuilt is built on a background thread on its first
 * use while that batch is served at the nearest ratio already built ({@link #servable}). The hot path never waits for
 * a graph to compile.
 */
final class ServingModel implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ServingModel.class);
    /** One builder for every model in the process: graphs compile one at a time, off the loop and the lanes. */
    private static final ExecutorService BUILDER = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "vitstream-graph-builder");
        t.setDaemon(true);
        return t;
    });

    private final ModelArtifact.Loaded loaded;
    private final Manifest manifest;
    private final InferenceEngine engine;
    private final Set<Double> building = ConcurrentHashMap.newKeySet();
    private final Set<Double> ready = ConcurrentHashMap.newKeySet();
    private final ServiceTimes times = new ServiceTimes();
    private final KeepPolicy.Method reducer;
    private volatile int warmBatch = 1;

    /** A model served with the default token reducer ({@link KeepPolicy#defaultMethod}). */
    ServingModel(ModelArtifact.Loaded loaded, InferenceEngine engine) {
        this(loaded, engine, null);
    }

    /**
     * @param reducer how a keep ratio below 1.0 reduces tokens (the worker's {@code token.reducer}), or null for the
     *     model's default
     * @throws IllegalArgumentException learned predictors asked for on a model without them
     */
    ServingModel(ModelArtifact.Loaded loaded, InferenceEngine engine, KeepPolicy.Method reducer) {
        this.loaded = loaded;
        this.manifest = loaded.manifest();
        this.engine = engine;
        this.reducer = reducer != null ? reducer : KeepPolicy.defaultMethod(manifest.sparsifier());
        if (this.reducer == KeepPolicy.Method.LEARNED
                && (manifest.sparsifier() == null || !manifest.sparsifier().hasPredictors())) {
            throw new IllegalArgumentException("model " + manifest.version() + " has no learned token predictors: "
                    + "token.reducer learned cannot serve it (auto falls back to cls-attention)");
        }
        ready.add(1.0);
    }

    /** Loads and verifies {@code dir} and opens it on the worker's engine, with the worker's token reducer. */
    static ServingModel load(Path dir, WorkerConfig config) {
        return load(dir, config, config.tokenReducer());
    }

    /** As {@link #load(Path, WorkerConfig)} with token reducer {@code reducer} (null: the model's default). */
    static ServingModel load(Path dir, WorkerConfig config, KeepPolicy.Method reducer) {
        ModelArtifact.Loaded loaded = ModelArtifact.load(dir, config.device());
        try {
            return new ServingModel(loaded, loaded.engine(config.engineOptions()), reducer);
        } catch (RuntimeException e) {
            loaded.close();
            throw e;
        }
    }

    String version() {
        return manifest.version();
    }

    Manifest manifest() {
        return manifest;
    }

    /** Measured forward-pass times per keep ratio and batch size: seeded at warm-up, updated by every batch. */
    ServiceTimes times() {
        return times;
    }

    /** Whether a batch at {@code keepRatio} runs now without waiting for a graph to build. */
    boolean isReady(double keepRatio) {
        return ready.contains(keepRatio);
    }

    String engineName() {
        return engine.name();
    }

    int inputSize() {
        return manifest.input().height();
    }

    /**
     * How a keep ratio is applied to this model: with the worker's {@code token.reducer}; by default its learned token
     * predictors when it has them, otherwise the training-free CLS-attention ranking (EViT), so that the knob works on
     * every version; 1.0 is the dense forward.
     */
    KeepPolicy policy(double keepRatio) {
        if (keepRatio >= 1.0) {
            return KeepPolicy.dense();
        }
        return new KeepPolicy(keepRatio, reducer, false);
    }

    /** The token reducer this model serves keep ratios below 1.0 with. */
    KeepPolicy.Method reducer() {
        return reducer;
    }

    /**
     * Tokens (CLS included) entering each block at {@code keepRatio}: what the forward pass really runs (merging: what
     * each block's attention sees).
     */
    List<Integer> tokensKept(double keepRatio) {
        KeepPolicy policy = policy(keepRatio);
        VitConfig c = manifest.architecture();
        int[] tokens;
        if (policy.isDense()) {
            tokens = new int[c.depth()];
            Arrays.fill(tokens, c.numTokens());
        } else {
            tokens = SparseForward.tokensPerBlock(c, SparseForward.stagesFor(c, manifest.sparsifier(), policy).stages(),
                    policy);
        }
        return Arrays.stream(tokens).boxed().toList();
    }

    /** FLOPs per image at {@code keepRatio}, token predictors (or merging's matching) included. */
    long flops(double keepRatio) {
        KeepPolicy policy = policy(keepRatio);
        VitConfig c = manifest.architecture();
        return policy.isDense() ? FlopCounter.perImage(c)
                : SparseForward.flopsPerImage(c, SparseForward.stagesFor(c, manifest.sparsifier(), policy), policy);
    }

    /**
     * The keep ratio a batch asked to run at {@code wanted} is served at now: {@code wanted} itself when the engine
     * has it ready; otherwise its build is started in the background and the closest ready ratio serves meanwhile.
     */
    double servable(double wanted) {
        if (ready.contains(wanted)) {
            return wanted;
        }
        KeepPolicy policy = policy(wanted);
        if (engine.isPrepared(policy)) {
            ready.add(wanted);
            return wanted;
        }
        if (building.add(wanted)) {
            BUILDER.execute(() -> {
                try {
                    prepareKeepRatio(wanted);
                } catch (RuntimeException e) {
                    log.error("model {}: building keep ratio {} on {} failed: {}", version(), wanted, engine.name(),
                            e.getMessage());
                } finally {
                    building.remove(wanted);
                }
            });
        }
        double best = 1.0;
        for (double r : ready) {
            if (Math.abs(r - wanted) < Math.abs(best - wanted)) {
                best = r;
            }
        }
        return best;
    }

    /**
     * Builds and warms {@code keepRatio}'s graph on the calling thread, unless it is ready, and seeds its service times
     * at one image, a quarter batch and the full warm-up batch (the best of three passes each; served batches then
     * refine them).
     */
    void prepareKeepRatio(double keepRatio) {
        if (!ready.contains(keepRatio)) {
            int full = warmBatch;
            engine.prepare(policy(keepRatio), full);
            for (int batch : new java.util.TreeSet<>(List.of(1, Math.max(1, full / 4), full))) {
                float[] zeros = new float[batch * manifest.input().pixels()];
                double best = Double.POSITIVE_INFINITY;
                for (int i = 0; i < 3; i++) {
                    long t0 = System.nanoTime();
                    logits(zeros, batch, keepRatio);
                    best = Math.min(best, (System.nanoTime() - t0) / 1e6);
                }
                times.seed(keepRatio, batch, best);
            }
            ready.add(keepRatio);
        }
    }

    /** (B, K) logits of B normalised images at {@code keepRatio}. */
    float[][] logits(float[] pixels, int batch, double keepRatio) {
        return engine.logits(pixels, batch, policy(keepRatio));
    }

    /**
     * Builds and runs the dense graph and each of {@code keepRatios} at the batch size they will serve, so that the
     * first real batch pays for neither compilation nor allocation, and seeds their service times. The loader calls
     * this before the model is handed over.
     */
    void warmUp(int batch, List<Double> keepRatios) {
        warmBatch = batch;
        engine.prepare(KeepPolicy.dense(), batch);
        ready.remove(1.0); // measured like every other ratio
        prepareKeepRatio(1.0);
        for (double r : keepRatios) {
            prepareKeepRatio(r);
        }
    }

    /** As {@link #warmUp(int, List)} for the dense forward only. */
    void warmUp(int batch) {
        warmUp(batch, List.of());
    }

    @Override
    public void close() {
        try {
            engine.close();
        } finally {
            loaded.close();
        }
    }
}
