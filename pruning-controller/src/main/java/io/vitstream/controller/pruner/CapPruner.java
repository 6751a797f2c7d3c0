package io.vitstream.controller.pruner;

import io.vitstream.model.BlockConfig;
import io.vitstream.model.VitModel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * CAP (Kuznedelev et al., correlation-aware pruning) in the structured form our slicer can use: the OBS step of
 * {@link ObsLayer} on the layer that consumes the removed units, fc2 for MLP neurons and the attention projection for
 * heads, with the layer-input Hessian {@code H = (2/n) X X^T} of the calibration tokens ({@link LayerInputHessians})
 * damped by {@code lambda I}, {@code lambda = damping * mean(diag H)} (default 1%, SparseGPT's choice: enough to keep
 * H invertible where inputs are collinear or dead, small enough to leave the loss almost unchanged).
 *
 * <p>Scores: per layer, units are removed one at a time, always the cheapest by the OBS cost given the corrections
 * already made, until none is left; a unit's score is the layer-wise loss its removal added, made non-decreasing along
 * that order (a running maximum, with a tiny strict rise so ties cannot reorder it), so that sorting by score gives
 * back CAP's order. The loss is the layer output's mean squared change per token, summed over the residual width.
 * It ranks the units of one layer; it does not say how much of each layer the network's loss can spare (the same
 * output error costs more in one block than in another), so the planner lets OBD's loss-unit scores set each layer's
 * share and takes a prefix of CAP's order within it ({@link PrunePlanner#capKeys}). Blocks and stem channels have no
 * consuming layer corrected here; they carry their OBD scores.
 *
 * <p>Correction: once the plan says which units go, each consuming layer is corrected for exactly those (one at a
 * time by the same rule, downdating the inverse Hessian after each), and the sliced model keeps the corrected weights
 * and biases. The Hessians are those of the parent: upstream pruning is not fed back into later layers' inputs.
 */
public final class CapPruner {
    /** lambda as a share of the mean diagonal of the layer-input Hessian (see the class comment). */
    public static final double DEFAULT_DAMPING = 0.01;

    private CapPruner() {}

    /**
     * CAP's score per head and neuron, aligned with {@code groups}; blocks and stem channels get {@code others}' (OBD's).
     */
    public static double[] scores(VitModel model, LayerInputHessians hessians, double damping, List<Group> groups,
            double[] others) {
        Map<String, Double> byId = new LinkedHashMap<>();
        for (int b = 0; b < model.config().depth(); b++) {
            BlockConfig bc = model.config().blocks().get(b);
            ObsLayer fc2 = fc2Layer(model, hessians, b, damping);
            putScores(byId, fc2.greedy(range(bc.mlpDim()), bc.mlpDim()), b, Group.Kind.NEURON);
            ObsLayer proj = projLayer(model, hessians, b, damping);
            putScores(byId, proj.greedy(range(bc.heads()), bc.heads()), b, Group.Kind.HEAD);
        }
        double[] out = new double[groups.size()];
        for (int g = 0; g < groups.size(); g++) {
            Double s = byId.get(groups.get(g).id());
            out[g] = s == null ? others[g] : s;
        }
        return out;
    }

    private static void putScores(Map<String, Double> byId, ObsLayer.Trace trace, int block, Group.Kind kind) {
        double[] monotone = nonDecreasing(trace.costs());
        for (int k = 0; k < trace.order().size(); k++) {
            byId.put(new Group(kind, block, trace.order().get(k)).id(), monotone[k]);
        }
    }

    /** A running maximum with a strict rise of 1e-9 of the largest value per step: order-preserving under scaling. */
    static double[] nonDecreasing(double[] costs) {
        double max = 0;
        for (double c : costs) {
            max = Math.max(max, c);
        }
        double tick = 1e-9 * max + Double.MIN_NORMAL;
        double[] out = new double[costs.length];
        for (int k = 0; k < costs.length; k++) {
            out[k] = k == 0 ? costs[0] : Math.max(costs[k], out[k - 1] + tick);
        }
        return out;
    }

    /**
     * One corrected layer.
     *
     * @param layer the consuming layer's name, e.g. {@code block2.mlp.fc2}
     * @param removed units removed from its input
     * @param units units it had
     * @param lambda the damping added to H's diagonal
     * @param relativeErrorPruned {@code ||(W' - W) [X 1]||^2 / ||W [X 1]||^2} on the calibration tokens with the
     *     removed columns simply dropped
     * @param relativeErrorCorrected the same after CAP's correction of the remaining columns and the bias
     */
    public record LayerReport(String layer, int removed, int units, double lambda, double relativeErrorPruned,
            double relativeErrorCorrected) {}

    /**
     * @param weights parent-shaped replacements of the consuming layers' weights and biases (removed columns 0), by
     *     weight name, for {@link ModelSlicer#slice(VitModel, PrunePlan, Map)}
     */
    public record Correction(Map<String, float[]> weights, List<LayerReport> layers, double damping) {
        /** For the new model's manifest. */
        public Map<String, Object> toManifest() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("hessian", "H = (2/n) [X 1]^T [X 1] + lambda I over the n calibration tokens, X the consuming "
                    + "layer's input (fc2 for neurons, the attention projection for heads), 1 for its bias");
            m.put("damping", damping);
            m.put("damping_meaning", "lambda = damping * mean diagonal of H");
            List<Map<String, Object>> layers = new ArrayList<>();
            for (LayerReport r : this.layers) {
                Map<String, Object> e = new LinkedHashMap<>();
                e.put("layer", r.layer());
                e.put("removed", r.removed() + "/" + r.units());
                e.put("lambda", r.lambda());
                e.put("relative_error_pruned", r.relativeErrorPruned());
                e.put("relative_error_corrected", r.relativeErrorCorrected());
                layers.add(e);
            }
            m.put("layers", layers);
            return m;
        }
    }

    /** The OBS correction of every consuming layer for the units {@code plan} removes (removed blocks: nothing). */
    public static Correction correct(VitModel parent, PrunePlan plan, LayerInputHessians hessians, double damping) {
        if (!parent.config().equals(plan.before())) {
            throw new IllegalArgumentException("the plan was made for another architecture");
        }
        Map<String, float[]> weights = new LinkedHashMap<>();
        List<LayerReport> reports = new ArrayList<>();
        for (int b : plan.keptBlocks()) {
            BlockConfig bc = plan.before().blocks().get(b);
            List<Integer> neurons = missing(bc.mlpDim(), plan.keptNeurons().get(b));
            if (!neurons.isEmpty()) {
                reports.add(correctLayer(fc2Layer(parent, hessians, b, damping), neurons, bc.mlpDim(),
                        "block" + b + ".mlp.fc2", parent, hessians.fc2().get(b), weights));
            }
            List<Integer> heads = missing(bc.heads(), plan.keptHeads().get(b));
            if (!heads.isEmpty()) {
                reports.add(correctLayer(projLayer(parent, hessians, b, damping), heads, bc.heads(),
                        "block" + b + ".attention.proj", parent, hessians.proj().get(b), weights));
            }
        }
        return new Correction(weights, reports, damping);
    }

    private static LayerReport correctLayer(ObsLayer layer, List<Integer> removed, int units, String name,
            VitModel parent, double[][] hessian, Map<String, float[]> into) {
        float[] w0 = parent.namedParameters().get(name + ".weight").getArray().toFloatArray();
        float[] b0 = parent.namedParameters().get(name + ".bias").getArray().toFloatArray();
        layer.greedy(removed, removed.size());
        float[] w1 = layer.weight();
        float[] b1 = layer.bias();
        int in = hessian.length - 1;
        int width = in + 1;
        double[] original = new double[b0.length * width];
        double[] dropped = new double[original.length];
        double[] corrected = new double[original.length];
        boolean[] gone = new boolean[in];
        for (int g : removed) {
            for (int c : layer.columns(g)) {
                gone[c] = true;
            }
        }
        for (int r = 0; r < b0.length; r++) {
            for (int c = 0; c < in; c++) {
                original[r * width + c] = w0[r * in + c];
                dropped[r * width + c] = gone[c] ? -w0[r * in + c] : 0;
                corrected[r * width + c] = (double) w1[r * in + c] - w0[r * in + c];
            }
            original[r * width + in] = b0[r];
            corrected[r * width + in] = (double) b1[r] - b0[r];
        }
        double energy = Linalg.halfQuadratic(original, width, hessian);
        into.put(name + ".weight", w1);
        into.put(name + ".bias", b1);
        return new LayerReport(name, removed.size(), units, layer.lambda(),
                Linalg.halfQuadratic(dropped, width, hessian) / energy,
                Linalg.halfQuadratic(corrected, width, hessian) / energy);
    }

    static ObsLayer fc2Layer(VitModel model, LayerInputHessians hessians, int block, double damping) {
        int m = model.config().blocks().get(block).mlpDim();
        int[][] groups = new int[m][];
        for (int j = 0; j < m; j++) {
            groups[j] = new int[] {j};
        }
        return layer(model, "block" + block + ".mlp.fc2", hessians.fc2().get(block), groups, damping);
    }

    static ObsLayer projLayer(VitModel model, LayerInputHessians hessians, int block, double damping) {
        BlockConfig bc = model.config().blocks().get(block);
        int[][] groups = new int[bc.heads()][];
        for (int h = 0; h < bc.heads(); h++) {
            groups[h] = IntStream.range(h * bc.headDim(), (h + 1) * bc.headDim()).toArray();
        }
        return layer(model, "block" + block + ".attention.proj", hessians.proj().get(block), groups, damping);
    }

    private static ObsLayer layer(VitModel model, String name, double[][] hessian, int[][] groups, double damping) {
        var p = model.namedParameters();
        return new ObsLayer(p.get(name + ".weight").getArray().toFloatArray(),
                p.get(name + ".bias").getArray().toFloatArray(), hessian, groups, damping);
    }

    private static List<Integer> range(int n) {
        return IntStream.range(0, n).boxed().toList();
    }

    private static List<Integer> missing(int n, List<Integer> kept) {
        Set<Integer> k = new TreeSet<>(kept);
        return IntStream.range(0, n).filter(i -> !k.contains(i)).boxed().collect(Collectors.toList());
    }
}
