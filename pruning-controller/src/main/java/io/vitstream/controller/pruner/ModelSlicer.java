package io.vitstream.controller.pruner;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.vitstream.model.BlockConfig;
import io.vitstream.model.TransformerBlock;
import io.vitstream.model.VitModel;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Applies a {@link PrunePlan}: physical slicing into a smaller model of the same class (QKV rows per head, projection
 * columns, MLP fc1 rows and fc2 columns, removed blocks dropped; residual width, embedding, head and token predictors
 * unchanged), and the equivalent gating of the parent (removed groups gated to 0), which computes the same function.
 */
public final class ModelSlicer {
    private static final Pattern BLOCK_PARAM = Pattern.compile("block(\\d+)\\.(.+)");

    private ModelSlicer() {}

    /** A new model with the plan's architecture and the parent's remaining weights; shape-checked on import. */
    public static VitModel slice(VitModel parent, PrunePlan plan) {
        if (!parent.config().equals(plan.before())) {
            throw new IllegalArgumentException("the plan was made for another architecture");
        }
        VitModel child = VitModel.create(plan.after(), plan.sparsifierAfter());
        try (NDManager scope = parent.djlModel().getNDManager().newSubManager()) {
            NDList out = new NDList();
            for (NDArray w : parent.exportWeights(scope)) {
                String name = w.getName();
                Matcher m = BLOCK_PARAM.matcher(name);
                if (!m.matches()) {
                    out.add(w); // embedding, norm, head, predictors: residual width is unchanged
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
     * Gates the parent as the plan prunes it (0 for removed heads, neurons and blocks, 1 elsewhere), in
     * {@code manager}; {@link #clearGates} undoes it. For checking a slice against its parent.
     */
    public static void applyGates(VitModel parent, PrunePlan plan, NDManager manager) {
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
        for (TransformerBlock block : model.network().blocks()) {
            block.setBlockGate(null);
            block.attention().setHeadGate(null);
            block.mlp().setNeuronGate(null);
        }
    }
}
