package io.vitstream.controller.pruner;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.vitstream.model.BlockConfig;
import io.vitstream.model.TokenEmbedding;
import io.vitstream.model.TransformerBlock;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Applies a {@link PrunePlan}: physical slicing into a smaller model of the same class (QKV rows per head, projection
 * columns, MLP fc1 rows and fc2 columns, removed blocks dropped, stem filters and their input slices of the next
 * layer; residual width, position embeddings, head and token predictors unchanged), and the equivalent gating of the
 * parent (removed groups gated to 0), which computes the same function.
 */
public final class ModelSlicer {
    private static final Pattern BLOCK_PARAM = Pattern.compile("block(\\d+)\\.(.+)");

    private ModelSlicer() {}

    /** A new model with the plan's architecture and the parent's remaining weights; shape-checked on import. */
    public static VitModel slice(VitModel parent, PrunePlan plan) {
        return slice(parent, plan, Map.of());
    }

    /**
     * As {@link #slice(VitModel, PrunePlan)}, with some of the parent's weights replaced before slicing: parent-shaped
     * values by weight name (CAP's corrected consuming layers, {@link CapPruner.Correction#weights()}).
     */
    public static VitModel slice(VitModel parent, PrunePlan plan, Map<String, float[]> replacements) {
        if (!parent.config().equals(plan.before())) {
            throw new IllegalArgumentException("the plan was made for another architecture");
        }
        VitModel child = VitModel.create(plan.after(), plan.sparsifierAfter());
        try (NDManager scope = parent.djlModel().getNDManager().newSubManager()) {
            NDList out = new NDList();
            Set<String> unused = new TreeSet<>(replacements.keySet());
            for (NDArray exported : parent.exportWeights(scope)) {
                String name = exported.getName();
                NDArray w = exported;
                float[] replacement = replacements.get(name);
                if (replacement != null) {
                    if (replacement.length != exported.size()) {
                        throw new IllegalArgumentException("replacement for " + name + " has " + replacement.length
                                + " values, the weight " + exported.size());
                    }
                    w = scope.create(replacement, exported.getShape());
                    w.setName(name);
                    unused.remove(name);
                }
                Matcher m = BLOCK_PARAM.matcher(name);
                if (!m.matches()) {
                    // Stem and patch filters lose removed channels; norm, head, predictors: residual width unchanged.
                    NDArray s = sliceEmbeddingParam(scope, w, plan);
                    s.setName(name);
                    out.add(s);
                    continue;
                }
                int block = Integer.parseInt(m.group(1));
                int newIndex = plan.keptBlocks().indexOf(block);
                if (newIndex < 0) {
                    continue;
                }
                NDArray sliced = sliceBlockParam(scope, w, m.group(2), plan.before().blocks().get(block),
                        plan.keptHeads().get(block), plan.keptNeurons().get(block));
                sliced.setName("block" + newIndex + "." + m.group(2));
                out.add(sliced);
            }
            if (!unused.isEmpty()) {
                throw new IllegalArgumentException("replacements for weights the parent does not have: " + unused);
            }
            child.importWeights(out, "sliced " + plan.method().id() + " plan");
        } catch (RuntimeException e) {
            child.close();
            throw e;
        }
        return child;
    }

    private static NDArray sliceBlockParam(NDManager scope, NDArray w, String local, BlockConfig bc,
            List<Integer> heads, List<Integer> neurons) {
        int dh = bc.headDim();
        int a = bc.attentionDim();
        switch (local) {
            case "attention.qkv.weight", "attention.qkv.bias" -> {
                int[] rows = new int[3 * heads.size() * dh];
                int k = 0;
                for (int part = 0; part < 3; part++) {
                    for (int h : heads) {
                        for (int r = 0; r < dh; r++) {
                            rows[k++] = part * a + h * dh + r;
                        }
                    }
                }
                return rows(scope, w, rows);
            }
            case "attention.proj.weight" -> {
                int[] cols = new int[heads.size() * dh];
                int k = 0;
                for (int h : heads) {
                    for (int r = 0; r < dh; r++) {
                        cols[k++] = h * dh + r;
                    }
                }
                return columns(scope, w, cols);
            }
            case "mlp.fc1.weight", "mlp.fc1.bias" -> {
                return rows(scope, w, neurons.stream().mapToInt(Integer::intValue).toArray());
            }
            case "mlp.fc2.weight" -> {
                return columns(scope, w, neurons.stream().mapToInt(Integer::intValue).toArray());
            }
            default -> {
                return w; // norms, projection and fc2 biases: over the residual width
            }
        }
    }

    /** A stem filter keeps its remaining output channels and the previous layer's; the patch filter the last layer's. */
    private static NDArray sliceEmbeddingParam(NDManager scope, NDArray w, PrunePlan plan) {
        VitConfig c = plan.before();
        for (int l = 0; l < c.stemLayers(); l++) {
            String own = "embedding." + TokenEmbedding.stemName(l) + ".";
            int[] outs = ints(plan.keptStem().get(l));
            if (w.getName().equals(own + "bias")) {
                return rows(scope, w, outs);
            }
            if (w.getName().equals(own + "weight")) {
                int[] ins = l == 0 ? range(c.channels()) : ints(plan.keptStem().get(l - 1));
                return filters(scope, w, outs, ins);
            }
        }
        if (c.stemLayers() > 0 && w.getName().equals("embedding.patch.weight")) {
            return filters(scope, w, range(c.dim()), ints(plan.keptStem().get(c.stemLayers() - 1)));
        }
        return w;
    }

    /** Output channels {@code outs} and input channels {@code ins} of a convolution filter (out, in, kh, kw). */
    private static NDArray filters(NDManager scope, NDArray w, int[] outs, int[] ins) {
        float[] v = w.toFloatArray();
        long[] s = w.getShape().getShape();
        int in = (int) s[1];
        int kernel = (int) (s[2] * s[3]);
        float[] out = new float[outs.length * ins.length * kernel];
        int k = 0;
        for (int o : outs) {
            for (int i : ins) {
                System.arraycopy(v, (o * in + i) * kernel, out, k, kernel);
                k += kernel;
            }
        }
        return scope.create(out, new Shape(outs.length, ins.length, s[2], s[3]));
    }

    private static int[] ints(List<Integer> list) {
        return list.stream().mapToInt(Integer::intValue).toArray();
    }

    private static int[] range(int n) {
        return java.util.stream.IntStream.range(0, n).toArray();
    }

    /** Rows (first axis) {@code rows} of a 1-D or 2-D array. */
    private static NDArray rows(NDManager scope, NDArray w, int[] rows) {
        float[] v = w.toFloatArray();
        long cols = w.getShape().dimension() == 1 ? 1 : w.getShape().get(1);
        float[] out = new float[(int) (rows.length * cols)];
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(v, (int) (rows[i] * cols), out, (int) (i * cols), (int) cols);
        }
        Shape shape = w.getShape().dimension() == 1 ? new Shape(rows.length) : new Shape(rows.length, cols);
        return scope.create(out, shape);
    }

    /** Columns {@code cols} of a 2-D array. */
    private static NDArray columns(NDManager scope, NDArray w, int[] cols) {
        float[] v = w.toFloatArray();
        int rowsN = (int) w.getShape().get(0);
        int width = (int) w.getShape().get(1);
        float[] out = new float[rowsN * cols.length];
        for (int r = 0; r < rowsN; r++) {
            for (int j = 0; j < cols.length; j++) {
                out[r * cols.length + j] = v[r * width + cols[j]];
            }
        }
        return scope.create(out, new Shape(rowsN, cols.length));
    }

    /**
     * Gates the parent as the plan prunes it (0 for removed heads, neurons, blocks and stem channels, 1 elsewhere), in
     * {@code manager}; {@link #clearGates} undoes it. For checking a slice against its parent.
     */
    public static void applyGates(VitModel parent, PrunePlan plan, NDManager manager) {
        NDArray[] stemGates = new NDArray[plan.before().stemLayers()];
        for (int l = 0; l < stemGates.length; l++) {
            float[] g = new float[plan.before().stemWidths().get(l)];
            for (int ch : plan.keptStem().get(l)) {
                g[ch] = 1f;
            }
            stemGates[l] = manager.create(g);
        }
        parent.network().embedding().setStemGates(stemGates);
        List<TransformerBlock> blocks = parent.network().blocks();
        for (int b = 0; b < blocks.size(); b++) {
            BlockConfig bc = plan.before().blocks().get(b);
            boolean kept = plan.keptBlocks().contains(b);
            blocks.get(b).setBlockGate(manager.create(new float[] {kept ? 1f : 0f}));
            float[] hg = new float[bc.heads()];
            for (int h : plan.keptHeads().get(b)) {
                hg[h] = 1f;
            }
            float[] ng = new float[bc.mlpDim()];
            for (int j : plan.keptNeurons().get(b)) {
                ng[j] = 1f;
            }
            if (kept) {
                blocks.get(b).attention().setHeadGate(manager.create(hg));
                blocks.get(b).mlp().setNeuronGate(manager.create(ng));
            }
        }
    }

    public static void clearGates(VitModel model) {
        model.network().embedding().setStemGates(null);
        for (TransformerBlock block : model.network().blocks()) {
            block.setBlockGate(null);
            block.attention().setHeadGate(null);
            block.mlp().setNeuronGate(null);
        }
    }
}
