package io.vitstream.engine.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import io.vitstream.engine.EngineKind;
import io.vitstream.engine.EngineOptions;
import io.vitstream.engine.InferenceEngine;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.VitConfig;
import io.vitstream.sparsity.MergeSchedule;
import io.vitstream.sparsity.SparseForward;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * ONNX Runtime running graphs that {@link VitOnnxExporter} writes in memory from a verified model's weights: one
 * session per distinct token schedule (k is fixed in each graph, so memory planning and static-shape fusions apply),
 * built on first use or ahead of it with {@link #prepare}, warmed before it serves, and kept in a bounded LRU cache.
 * A session evicted while a call runs it is closed when that call ends. Inputs go in through direct, native-order
 * buffers (no copy on the native side).
 */
public final class OnnxRuntimeEngine implements InferenceEngine {
    private static final Logger log = LoggerFactory.getLogger(OnnxRuntimeEngine.class);
    /** Sessions kept at once; a worker steering its keep ratio uses a handful. */
    static final int MAX_SESSIONS = 8;
    private static volatile boolean warnedNoCuda;

    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final VitConfig config;
    private final SparsifierConfig sparsifier;
    private final ModelWeights weights;
    private final EngineOptions options;
    private final long[] inputShape;
    private final int pixelsPerImage;
    private final LinkedHashMap<String, Slot> sessions = new LinkedHashMap<>(16, 0.75f, true);
    /** Per calling thread, one direct input buffer, grown to the largest batch it has sent. */
    private final ThreadLocal<FloatBuffer[]> inputs = ThreadLocal.withInitial(() -> new FloatBuffer[1]);
    private boolean closed;

    /** A session and the calls running it. */
    private static final class Slot {
        final OrtSession session;
        int users;
        boolean evicted;

        Slot(OrtSession session) {
            this.session = session;
        }
    }

    private OnnxRuntimeEngine(VitConfig config, SparsifierConfig sparsifier, ModelWeights weights,
            EngineOptions options) {
        this.config = config;
        this.sparsifier = sparsifier;
        this.weights = weights;
        this.options = options;
        this.pixelsPerImage = config.channels() * config.imageSize() * config.imageSize();
        this.inputShape = new long[] {0, config.channels(), config.imageSize(), config.imageSize()};
    }

    /**
     * An engine for a model; the dense graph is written and compiled at once, so that a model the exporter cannot
     * express fails here, at load, with {@link UnsupportedModelException}.
     */
    public static OnnxRuntimeEngine create(VitConfig config, SparsifierConfig sparsifier, ModelWeights weights,
            EngineOptions options) {
        OnnxRuntimeEngine engine = new OnnxRuntimeEngine(config, sparsifier, weights, options);
        try {
            engine.acquire(KeepPolicy.dense());
        } catch (RuntimeException e) {
            engine.close();
            throw e;
        }
        return engine;
    }

    @Override
    public String name() {
        return EngineKind.ONNXRUNTIME.id();
    }

    @Override
    public float[][] logits(float[] pixels, int batch, KeepPolicy policy) {
        return run(pixels, batch, policy, false).logits;
    }

    /** Logits and the kept patch indices of each stage that dropped tokens (as {@code SparseForward.infer} lists). */
    public Output forward(float[] pixels, int batch, KeepPolicy policy) {
        return run(pixels, batch, policy, true);
    }

    /** What one run returns. */
    public record Output(float[][] logits, List<long[][]> keptIndices) {}

    @Override
    public void prepare(KeepPolicy policy, int batch) {
        Slot slot = acquire(policy);
        try {
            warm(slot.session, batch);
        } finally {
            release(slot);
        }
    }

    @Override
    public synchronized boolean isPrepared(KeepPolicy policy) {
        return sessions.containsKey(key(policy));
    }

    /** The serialised graph this engine runs at {@code policy} (what {@code export-onnx} writes). */
    public byte[] graph(KeepPolicy policy) {
        return VitOnnxExporter.export(config, sparsifier, weights, policy);
    }

    private Output run(float[] pixels, int batch, KeepPolicy policy, boolean withKept) {
        int n = batch * pixelsPerImage;
        if (pixels.length < n) {
            throw new IllegalArgumentException("a batch of " + batch + " needs " + n + " pixels, got " + pixels.length);
        }
        FloatBuffer[] held = inputs.get();
        if (held[0] == null || held[0].capacity() < n) {
            held[0] = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder()).asFloatBuffer();
        }
        FloatBuffer buffer = held[0].duplicate(); // a view: ONNX Runtime reads position to limit, n values
        buffer.put(pixels, 0, n).flip();
        long[] shape = inputShape.clone();
        shape[0] = batch;
        Slot slot = acquire(policy);
        try (OnnxTensor input = OnnxTensor.createTensor(env, buffer, shape);
                OrtSession.Result result = withKept
                        ? slot.session.run(Map.of(VitOnnxExporter.INPUT, input))
                        : slot.session.run(Map.of(VitOnnxExporter.INPUT, input), Set.of(VitOnnxExporter.LOGITS))) {
            FloatBuffer out = ((OnnxTensor) result.get(VitOnnxExporter.LOGITS).orElseThrow()).getFloatBuffer();
            int classes = config.numClasses();
            float[][] logits = new float[batch][classes];
            for (int b = 0; b < batch; b++) {
                out.get(logits[b]);
            }
            List<long[][]> kept = withKept ? keptIndices(result, batch, policy) : List.of();
            return new Output(logits, kept);
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime failed: " + e.getMessage(), e);
        } finally {
            release(slot);
        }
    }

    private List<long[][]> keptIndices(OrtSession.Result result, int batch, KeepPolicy policy) throws OrtException {
        List<long[][]> kept = new ArrayList<>();
        for (int[] selection : VitOnnxExporter.selections(config, sparsifier, policy)) {
            OnnxTensor value = (OnnxTensor) result.get(VitOnnxExporter.keptOutput(selection[0])).orElseThrow();
            LongBuffer flat = value.getLongBuffer();
            long[][] rows = new long[batch][selection[2]];
            for (int b = 0; b < batch; b++) {
                flat.get(rows[b]);
            }
            kept.add(rows);
        }
        return kept;
    }

    /**
     * One session per token schedule: ratios that keep the same k at every stage (or, merging, merge the same tokens
     * in every block) share a graph.
     */
    private String key(KeepPolicy policy) {
        StringBuilder key = new StringBuilder(policy.method().id()).append(policy.packageToken() ? "+pkg" : "");
        if (policy.merges()) {
            MergeSchedule schedule = MergeSchedule.forPolicy(config,
                    SparseForward.stagesFor(config, sparsifier, policy).stages(), policy);
            return key.append(java.util.Arrays.toString(schedule.merges())).toString();
        }
        for (int[] sel : VitOnnxExporter.selections(config, sparsifier, policy)) {
            key.append('/').append(sel[0]).append(':').append(sel[2]);
        }
        return key.toString();
    }

    private Slot acquire(KeepPolicy policy) {
        String key = key(policy);
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("the engine is closed");
            }
            Slot slot = sessions.get(key);
            if (slot != null) {
                slot.users++;
                return slot;
            }
        }
        // Built outside the lock, so that other policies keep serving meanwhile; a racing build of the same key
        // loses and is closed.
        OrtSession built = build(policy);
        synchronized (this) {
            Slot slot = sessions.get(key);
            if (slot == null && !closed) {
                slot = new Slot(built);
                sessions.put(key, slot);
                evictBeyondCapacity();
            } else {
                closeQuietly(built);
                if (slot == null) {
                    throw new IllegalStateException("the engine is closed");
                }
            }
            slot.users++;
            return slot;
        }
    }

    private synchronized void release(Slot slot) {
        slot.users--;
        if (slot.evicted && slot.users == 0) {
            closeQuietly(slot.session);
        }
    }

    private void evictBeyondCapacity() {
        Iterator<Map.Entry<String, Slot>> it = sessions.entrySet().iterator();
        while (sessions.size() > MAX_SESSIONS && it.hasNext()) {
            Slot oldest = it.next().getValue();
            it.remove();
            oldest.evicted = true;
            if (oldest.users == 0) {
                closeQuietly(oldest.session);
            }
        }
    }

    private OrtSession build(KeepPolicy policy) {
        byte[] graph = VitOnnxExporter.export(config, sparsifier, weights, policy);
        try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
            so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            so.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            so.setInterOpNumThreads(1);
            if (options.threads() > 0) {
                so.setIntraOpNumThreads(options.threads());
            }
            if (options.gpu()) {
                addCuda(so);
            }
            return env.createSession(graph, so);
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime cannot load the generated graph: " + e.getMessage(), e);
        }
    }

    private void addCuda(OrtSession.SessionOptions so) throws OrtException {
        if (OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA)) {
            so.addCUDA(options.gpuIndex());
        } else if (!warnedNoCuda) {
            warnedNoCuda = true;
            log.warn("a GPU was asked for, but this ONNX Runtime build has no CUDA provider (put onnxruntime_gpu on the"
                    + " classpath instead of onnxruntime): running on the CPU");
        }
    }

    /** One run at the batch size it will serve, so the first real batch does not pay for allocation. */
    private void warm(OrtSession session, int batch) {
        long[] shape = inputShape.clone();
        shape[0] = batch;
        FloatBuffer zeros = ByteBuffer.allocateDirect(4 * batch * pixelsPerImage).order(ByteOrder.nativeOrder())
                .asFloatBuffer();
        try (OnnxTensor input = OnnxTensor.createTensor(env, zeros, shape);
                OrtSession.Result ignored = session.run(Map.of(VitOnnxExporter.INPUT, input))) {
            // ran once
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime failed warming a session: " + e.getMessage(), e);
        }
    }

    private static void closeQuietly(OrtSession session) {
        try {
            session.close();
        } catch (OrtException e) {
            log.warn("closing an ONNX Runtime session failed: {}", e.getMessage());
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        for (Slot slot : sessions.values()) {
            slot.evicted = true;
            if (slot.users == 0) {
                closeQuietly(slot.session);
            }
        }
        sessions.clear();
    }
}
