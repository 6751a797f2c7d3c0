package io.vitstream.controller.pruner;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.model.BlockConfig;
import io.vitstream.model.TokenEmbedding;
import io.vitstream.model.TransformerBlock;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.DoubleConsumer;

/**
 * Estimates the saliency of every head, MLP neuron and block of a model from a calibration set, by three measures at
 * once (one pass; each sample is its own backward pass, because two of the measures need per-sample gradients):
 *
 * <ul>
 *   <li>first-order Taylor: {@code |sum over the group of w * dL/dw|}, with dL/dw the gradient of the mean
 *       calibration loss;
 *   <li>empirical Fisher of a gate per group: {@code mean over samples of (dL/dgate)^2} (the squared form, the
 *       Fisher information of the gate; Michel et al. rank heads by {@code |dL/dgate|} instead), with a gate of 1
 *       multiplying each head's output, each neuron's activation and each block's two residual branches;
 *   <li>OBD with the Fisher approximation of the Hessian diagonal: {@code 1/2 * sum over the group of E[g^2] w^2}.
 * </ul>
 *
 * <p>The loss is the cross-entropy of the true label. A head's weights are its 3 * head_dim rows of {@code qkv}
 * (weights and biases) and its head_dim columns of {@code proj.weight}; a neuron's are its {@code fc1} row and bias
 * and its {@code fc2} column; a block's are all its weights (norms included); a stem channel's are its 3x3 filter
 * and bias and its input slice of the next layer's filters (the next stem convolution or the patch projection),
 * and its gate multiplies the channel after the GELU.
 */
public final class SaliencyEstimator {
    private SaliencyEstimator() {}

    /**
     * @param progress receives the share of samples done, in [0, 1]
     */
    public static SaliencyScores estimate(VitModel model, InputSpec input, LabeledImages calibration,
            DoubleConsumer progress) {
        int n = calibration.count();
        if (n < 1) {
            throw new IllegalArgumentException("saliency needs at least one calibration image");
        }
        VitConfig c = model.config();
        int depth = c.depth();
        Map<String, Parameter> backbone = backbone(model);
        double[][] headFisher = new double[depth][];
        double[][] neuronFisher = new double[depth][];
        double[] blockFisher = new double[depth];
        double[][] stemFisher = new double[c.stemLayers()][];
        for (int l = 0; l < c.stemLayers(); l++) {
            stemFisher[l] = new double[c.stemWidths().get(l)];
        }
        for (int b = 0; b < depth; b++) {
            headFisher[b] = new double[c.blocks().get(b).heads()];
            neuronFisher[b] = new double[c.blocks().get(b).mlpDim()];
        }
        Map<String, float[]> meanGrad = new LinkedHashMap<>();
        Map<String, float[]> meanSquare = new LinkedHashMap<>();
        Map<String, float[]> weights = new LinkedHashMap<>();
        List<TransformerBlock> blocks = model.network().blocks();
        NDManager root = model.djlModel().getNDManager();
        int pixels = input.pixels();
        float[] one = new float[pixels];
        List<Boolean> previouslyRequired = new ArrayList<>();
        for (Parameter p : backbone.values()) {
            previouslyRequired.add(p.getArray().hasGradient());
            p.getArray().setRequiresGradient(true);
        }
        try (NDManager acc = root.newSubManager()) {
            Map<String, NDArray> gradSum = new LinkedHashMap<>();
            Map<String, NDArray> gradSquareSum = new LinkedHashMap<>();
            for (Map.Entry<String, Parameter> e : backbone.entrySet()) {
                gradSum.put(e.getKey(), acc.zeros(e.getValue().getArray().getShape()));
                gradSquareSum.put(e.getKey(), acc.zeros(e.getValue().getArray().getShape()));
            }
            for (int i = 0; i < n; i++) {
                input.normalize(calibration.pixels(), i * calibration.imageBytes(), one, 0);
                try (NDManager scope = acc.newSubManager()) {
                    List<NDArray[]> gates = new ArrayList<>();
                    NDArray[] stemGates = new NDArray[c.stemLayers()];
                    for (int l = 0; l < stemGates.length; l++) {
                        stemGates[l] = requiringGradient(scope.ones(new Shape(c.stemWidths().get(l))));
                    }
                    model.network().embedding().setStemGates(stemGates);
                    for (int b = 0; b < depth; b++) {
                        BlockConfig bc = c.blocks().get(b);
                        NDArray hg = requiringGradient(scope.ones(new Shape(bc.heads())));
                        NDArray ng = requiringGradient(scope.ones(new Shape(bc.mlpDim())));
                        NDArray bg = requiringGradient(scope.ones(new Shape(1)));
                        blocks.get(b).attention().setHeadGate(hg);
                        blocks.get(b).mlp().setNeuronGate(ng);
                        blocks.get(b).setBlockGate(bg);
                        gates.add(new NDArray[] {hg, ng, bg});
                    }
                    NDArray x = scope.create(one, new Shape(1, input.channels(), input.height(), input.width()));
                    try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                        NDArray logits = model.network()
                                .forward(new ParameterStore(scope, false), new NDList(x), false).singletonOrThrow();
                        NDArray loss = logits.logSoftmax(1).get(0, calibration.labels()[i]).neg();
                        collector.backward(loss);
                    }
                    for (Map.Entry<String, Parameter> e : backbone.entrySet()) {
                        NDArray g = e.getValue().getArray().getGradient();
                        g.attach(scope); // the handle only; the gradient's storage stays with the parameter
                        gradSum.get(e.getKey()).addi(g);
                        gradSquareSum.get(e.getKey()).addi(g.square());
                        g.subi(g); // PyTorch accumulates gradients; start the next sample from zero
                    }
                    for (int l = 0; l < stemGates.length; l++) {
                        accumulateSquares(stemGates[l], scope, stemFisher[l]);
                    }
                    for (int b = 0; b < depth; b++) {
                        accumulateSquares(gates.get(b)[0], scope, headFisher[b]);
                        accumulateSquares(gates.get(b)[1], scope, neuronFisher[b]);
                        double[] blockG = new double[1];
                        accumulateSquares(gates.get(b)[2], scope, blockG);
                        blockFisher[b] += blockG[0];
                    }
                } finally {
                    model.network().embedding().setStemGates(null);
                    for (TransformerBlock block : blocks) {
                        block.attention().setHeadGate(null);
                        block.mlp().setNeuronGate(null);
                        block.setBlockGate(null);
                    }
                }
                progress.accept((i + 1.0) / n);
            }
            for (Map.Entry<String, Parameter> e : backbone.entrySet()) {
                meanGrad.put(e.getKey(), gradSum.get(e.getKey()).div((float) n).toFloatArray());
                meanSquare.put(e.getKey(), gradSquareSum.get(e.getKey()).div((float) n).toFloatArray());
                weights.put(e.getKey(), e.getValue().getArray().toFloatArray());
            }
        } finally {
            int k = 0;
            for (Parameter p : backbone.values()) {
                p.getArray().setRequiresGradient(previouslyRequired.get(k++));
            }
        }
        List<Group> groups = Group.all(c);
        double[] taylor = new double[groups.size()];
        double[] fisher = new double[groups.size()];
        double[] obd = new double[groups.size()];
        GroupSums sums = new GroupSums(c, weights, meanGrad, meanSquare);
        for (int g = 0; g < groups.size(); g++) {
            Group group = groups.get(g);
            double[] s = sums.of(group);
            taylor[g] = Math.abs(s[0]);
            obd[g] = 0.5 * s[1];
            fisher[g] = switch (group.kind()) {
                case HEAD -> headFisher[group.block()][group.index()] / n;
                case NEURON -> neuronFisher[group.block()][group.index()] / n;
                case BLOCK -> blockFisher[group.block()] / n;
                case STEM -> stemFisher[group.block()][group.index()] / n;
            };
        }
        return new SaliencyScores(groups, taylor, fisher, obd, n);
    }

    /** The weights the dense path uses, by name: all but the token predictors'. */
    static Map<String, Parameter> backbone(VitModel model) {
        Map<String, Parameter> backbone = new LinkedHashMap<>();
        model.namedParameters().forEach((name, p) -> {
            if (!name.startsWith("predictor")) {
                backbone.put(name, p);
            }
        });
        return backbone;
    }

    private static NDArray requiringGradient(NDArray a) {
        a.setRequiresGradient(true);
        return a;
    }

    private static void accumulateSquares(NDArray gate, NDManager scope, double[] into) {
        NDArray g = gate.getGradient();
        g.attach(scope);
        float[] v = g.toFloatArray();
        for (int j = 0; j < into.length; j++) {
            into[j] += (double) v[j] * v[j];
        }
    }

    /**
     * Sums of {@code w * g} and {@code E[g^2] * w^2} over the weights of one group, from flat row-major copies of the
     * weights ({@code Linear} weights are (out, in)).
     */
    static final class GroupSums {
        private final VitConfig config;
        private final Map<String, float[]> w;
        private final Map<String, float[]> g;
        private final Map<String, float[]> g2;

        GroupSums(VitConfig config, Map<String, float[]> w, Map<String, float[]> g, Map<String, float[]> g2) {
            this.config = config;
            this.w = w;
            this.g = g;
            this.g2 = g2;
        }

        /** {sum w * g, sum E[g^2] * w^2} over the group's weights. */
        double[] of(Group group) {
            double[] s = new double[2];
            String p = "block" + group.block() + ".";
            BlockConfig bc = config.blocks().get(group.block());
            int d = config.dim();
            switch (group.kind()) {
                case HEAD -> {
                    int h = group.index();
                    int dh = bc.headDim();
                    int a = bc.attentionDim();
                    for (int part = 0; part < 3; part++) {
                        int firstRow = part * a + h * dh;
                        add(s, p + "attention.qkv.weight", firstRow * d, dh * d, 1);
                        add(s, p + "attention.qkv.bias", firstRow, dh, 1);
                    }
                    for (int row = 0; row < d; row++) {
                        add(s, p + "attention.proj.weight", row * a + h * dh, dh, 1);
                    }
                }
                case NEURON -> {
                    int j = group.index();
                    int m = bc.mlpDim();
                    add(s, p + "mlp.fc1.weight", j * d, d, 1);
                    add(s, p + "mlp.fc1.bias", j, 1, 1);
                    add(s, p + "mlp.fc2.weight", j, d, m); // column j: one element per row, stride m
                }
                case BLOCK -> {
                    for (String name : w.keySet()) {
                        if (name.startsWith(p)) {
                            add(s, name, 0, w.get(name).length, 1);
                        }
                    }
                }
                case STEM -> {
                    // Its filter (out, in, 3, 3) and bias, and its input slice of the next layer's filters.
                    int l = group.block();
                    int ch = group.index();
                    String own = "embedding." + TokenEmbedding.stemName(l);
                    int in = config.stemInput(l);
                    add(s, own + ".weight", ch * in * 9, in * 9, 1);
                    add(s, own + ".bias", ch, 1, 1);
                    boolean lastLayer = l + 1 == config.stemLayers();
                    String next = "embedding." + (lastLayer ? "patch" : TokenEmbedding.stemName(l + 1));
                    int outs = lastLayer ? d : config.stemWidths().get(l + 1);
                    int kernel = lastLayer ? config.patchSize() * config.patchSize() : 9;
                    int width = config.stemWidths().get(l);
                    for (int o = 0; o < outs; o++) {
                        add(s, next + ".weight", (o * width + ch) * kernel, kernel, 1);
                    }
                }
            }
            return s;
        }

        private void add(double[] s, String name, int start, int count, int stride) {
            float[] wv = w.get(name);
            float[] gv = g.get(name);
            float[] g2v = g2.get(name);
            if (wv == null) {
                throw new IllegalStateException("no weight " + name);
            }
            for (int k = 0, idx = start; k < count; k++, idx += stride) {
                s[0] += (double) wv[idx] * gv[idx];
                s[1] += (double) g2v[idx] * wv[idx] * wv[idx];
            }
        }
    }
}
