package io.vitstream.model;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.TruncatedNormalInitializer;
import ai.djl.training.initializer.XavierInitializer;
import ai.djl.util.Pair;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BiFunction;

/**
 * A DJL {@link Model} holding a {@link VisionTransformer}, with weights addressed by stable dotted names
 * ({@code block3.attention.qkv.weight}) rather than DJL's order-prefixed ones, so that weights survive structural
 * changes and are checked by name and shape on load.
 */
public final class VitModel implements AutoCloseable {
    private final Model model;
    private final VisionTransformer network;

    private VitModel(Model model, VisionTransformer network) {
        this.model = model;
        this.network = network;
    }

    /**
     * Builds and randomly initialises a model (every weight truncated normal with std 0.02, as in ViT); seed the
     * engine first for repeatability.
     */
    public static VitModel create(VitConfig config) {
        return create(config, null);
    }

    /** As {@link #create(VitConfig)}, with learned token predictors when {@code sparsifier} has them. */
    public static VitModel create(VitConfig config, SparsifierConfig sparsifier) {
        return create(config, sparsifier, false);
    }

    /**
     * As {@link #create(VitConfig, SparsifierConfig)}; with {@code xavierConvolutions} the stem and patch
     * convolutions get Xavier initialisation instead (unit-scale image signal from the first step).
     */
    public static VitModel create(VitConfig config, SparsifierConfig sparsifier, boolean xavierConvolutions) {
        return create(config, sparsifier, xavierConvolutions, null);
    }

    /**
     * As {@link #create(VitConfig, SparsifierConfig, boolean)}, on {@code device} (null: the engine's default, a GPU
     * when DJL's PyTorch engine sees one). Inputs made by {@link #logits} live on the same device.
     */
    public static VitModel create(VitConfig config, SparsifierConfig sparsifier, boolean xavierConvolutions,
            ai.djl.Device device) {
        VisionTransformer network = VisionTransformer.builder().setConfig(config).optSparsifier(sparsifier).build();
        network.setInitializer(new TruncatedNormalInitializer(0.02f), Parameter.Type.WEIGHT);
        if (xavierConvolutions) {
            network.embedding().setInitializer(new XavierInitializer(), Parameter.Type.WEIGHT);
        }
        Model model = device == null ? Model.newInstance("vit") : Model.newInstance("vit", device);
        model.setBlock(network);
        network.initialize(model.getNDManager(), DataType.FLOAT32, network.inputShape(1));
        return new VitModel(model, network);
    }

    public Model djlModel() {
        return model;
    }

    public VisionTransformer network() {
        return network;
    }

    public VitConfig config() {
        return network.config();
    }

    /** Parameters by stable dotted name, in block order. */
    public Map<String, Parameter> namedParameters() {
        Map<String, Parameter> out = new LinkedHashMap<>();
        collect(network, "", out);
        return out;
    }

    private static void collect(Block block, String prefix, Map<String, Parameter> out) {
        for (Pair<String, Parameter> p : block.getDirectParameters()) {
            out.put(prefix + p.getKey(), p.getValue());
        }
        for (Pair<String, Block> child : block.getChildren()) {
            // DJL prefixes child names with a two-digit position ("02block0"); drop it for a stable name.
            String name = child.getKey().replaceFirst("^\\d{2}", "");
            collect(child.getValue(), prefix + name + ".", out);
        }
    }

    /** Copies of all weights, named, in {@code manager}. */
    public NDList exportWeights(NDManager manager) {
        NDList list = new NDList();
        for (Map.Entry<String, Parameter> e : namedParameters().entrySet()) {
            NDArray copy = e.getValue().getArray().duplicate();
            copy.attach(manager);
            copy.setName(e.getKey());
            list.add(copy);
        }
        return list;
    }

    /**
     * Copies named weights into this model. Every parameter must be present with exactly its shape, and nothing else
     * may be present: DJL's own loader does not check shapes, so a wider checkpoint would load silently.
     *
     * @param source names the origin in error messages (a file path)
     * @throws IllegalArgumentException naming the first problem found
     */
    public void importWeights(NDList weights, String source) {
        importWeights(weights, source, false);
    }

    /**
     * As {@link #importWeights(NDList, String)}; with {@code predictorsOptional}, token-predictor weights absent from
     * {@code weights} keep their current (initial) values: that is how a dense model seeds a sparse one.
     */
    public void importWeights(NDList weights, String source, boolean predictorsOptional) {
        Map<String, Parameter> params = namedParameters();
        Map<String, NDArray> byName = new LinkedHashMap<>();
        for (NDArray a : weights) {
            if (a.getName() == null || byName.put(a.getName(), a) != null) {
                throw new IllegalArgumentException(source + ": weight without a name or named twice: " + a.getName());
            }
        }
        Set<String> unexpected = new TreeSet<>(byName.keySet());
        unexpected.removeAll(params.keySet());
        if (!unexpected.isEmpty()) {
            throw new IllegalArgumentException(source + ": weights not in the architecture: " + unexpected);
        }
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            NDArray src = byName.get(e.getKey());
            if (src == null) {
                if (predictorsOptional && e.getKey().startsWith("predictor")) {
                    continue;
                }
                throw new IllegalArgumentException(source + ": missing weight " + e.getKey());
            }
            NDArray dst = e.getValue().getArray();
            if (!src.getShape().equals(dst.getShape())) {
                throw new IllegalArgumentException(String.format(
                        "%s: weight %s has shape %s, the architecture needs %s",
                        source, e.getKey(), src.getShape(), dst.getShape()));
            }
            src.toType(dst.getDataType(), false).copyTo(dst);
        }
    }

    /** Number of scalar weights. */
    public long parameterCount() {
        long n = 0;
        for (Parameter p : namedParameters().values()) {
            n += p.getArray().size();
        }
        return n;
    }

    /**
     * Logits for a batch of normalised images, computed in a sub-manager that is closed before returning.
     *
     * @param pixels B * C * H * W floats, already normalised
     * @return (B, K) logits
     */
    public float[][] logits(float[] pixels, int batch) {
        return logits(pixels, batch, KeepPolicy.dense());
    }

    /**
     * Logits with dynamic token sparsification at {@code policy} (the sparsifier's forward pass, through {@link SparsePath}).
     *
     * @param pixels B * C * H * W floats, already normalised
     * @return (B, K) logits
     */
    public float[][] logits(float[] pixels, int batch, KeepPolicy policy) {
        VitConfig c = config();
        return inference(pixels, batch, (ps, x) -> {
            float[] flat = SparsePath.installed().infer(network, ps, x, policy).toFloatArray();
            float[][] rows = new float[batch][c.numClasses()];
            for (int i = 0; i < batch; i++) {
                System.arraycopy(flat, i * c.numClasses(), rows[i], 0, c.numClasses());
            }
            return rows;
        });
    }

    /**
     * Runs only the embedding (stem, patch projection, CLS, positions) of a batch and discards the tokens: what a
     * benchmark subtracts from a whole forward pass to see how much of it the blocks take. One value is copied back,
     * so that on an asynchronous device the time includes the work, as {@link #logits}'s copy does.
     */
    public void embedOnly(float[] pixels, int batch) {
        inference(pixels, batch, (ps, x) -> network.embed(ps, x, false).get("0, 0, 0").toFloatArray());
    }

    /** Runs {@code pass} on a batch of normalised pixels, without autograd, in a sub-manager closed before returning. */
    private <T> T inference(float[] pixels, int batch, BiFunction<ParameterStore, NDArray, T> pass) {
        VitConfig c = config();
        // PyTorch's grad mode is per thread and on by default; DJL turns it off only in the thread that started the
        // engine. A worker's or benchmark's own thread would record an autograd graph it never uses (about 8% of
        // the forward pass on 2 cores, measured interleaved). Restored after, for a caller between training steps.
        boolean grad = JniUtils.isGradMode();
        if (grad) {
            JniUtils.setGradMode(false);
        }
        try (NDManager scope = model.getNDManager().newSubManager()) {
            NDArray x = scope.create(pixels, new Shape(batch, c.channels(), c.imageSize(), c.imageSize()));
            return pass.apply(new ParameterStore(scope, false), x);
        } finally {
            if (grad) {
                JniUtils.setGradMode(true);
            }
        }
    }

    /**
     * Threads one forward pass may use on a CPU, for the whole process (PyTorch's intra-op pool). A server running
     * several forward passes side by side gives each fewer threads; DJL's default is every core.
     */
    public static void setIntraOpThreads(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("intra-op threads must be at least 1, got " + threads);
        }
        ai.djl.engine.Engine.getInstance(); // loads the native library first
        JniUtils.setNumThreads(threads);
    }

    /** Threads one forward pass uses now on a CPU. */
    public static int intraOpThreads() {
        ai.djl.engine.Engine.getInstance();
        return JniUtils.getNumThreads();
    }

    @Override
    public void close() {
        model.close();
    }
}
