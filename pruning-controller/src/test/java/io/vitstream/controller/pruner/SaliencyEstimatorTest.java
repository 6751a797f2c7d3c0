package io.vitstream.controller.pruner;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import io.vitstream.data.FashionMnist;
import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.model.BlockConfig;
import io.vitstream.model.TransformerBlock;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.IntFunction;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Checks the three saliency measures against brute force on a tiny random model: central finite differences of the
 * cross-entropy, per sample, with no autograd involved.
 */
class SaliencyEstimatorTest {
    private static final int N = 3;
    private static final double EPS = 1e-2;
    private static final InputSpec SPEC = InputSpec.fashionMnist();

    private static VitModel model;
    private static LabeledImages calibration;
    private static float[] pixels;
    private static SaliencyScores scores;

    @BeforeAll
    static void estimate() {
        model = TinyModels.randomModel(null, 11);
        Random rng = new Random(2);
        byte[] px = new byte[N * 28 * 28];
        rng.nextBytes(px);
        int[] labels = new int[N];
        for (int i = 0; i < N; i++) {
            labels[i] = rng.nextInt(10);
        }
        calibration = new LabeledImages(px, labels, 28, 28, FashionMnist.CLASS_NAMES);
        pixels = new float[N * 28 * 28];
        for (int i = 0; i < N; i++) {
            SPEC.normalize(px, i * 784, pixels, i * 784);
        }
        scores = SaliencyEstimator.estimate(model, SPEC, calibration, f -> {});
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** Cross-entropy of each calibration sample under the model as it is now. */
    private static double[] losses() {
        float[][] logits = model.logits(pixels, N);
        double[] out = new double[N];
        for (int i = 0; i < N; i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (float v : logits[i]) {
                max = Math.max(max, v);
            }
            double sum = 0;
            for (float v : logits[i]) {
                sum += Math.exp(v - max);
            }
            out[i] = -(logits[i][calibration.labels()[i]] - max - Math.log(sum));
        }
        return out;
    }

    private static double score(Group g, double[] measure) {
        return measure[scores.groups().indexOf(g)];
    }

    // ---- Fisher: per-sample d loss / d gate by finite differences of the gate ----

    @Test
    void fisherEqualsTheMeanSquaredFiniteDifferenceGateDerivative() {
        List<Group> checked = List.of(new Group(Group.Kind.HEAD, 1, 1), new Group(Group.Kind.HEAD, 3, 2),
                new Group(Group.Kind.NEURON, 0, 5), new Group(Group.Kind.NEURON, 2, 17),
                new Group(Group.Kind.BLOCK, 1, -1), new Group(Group.Kind.STEM, 0, 1), new Group(Group.Kind.STEM, 1, 3));
        for (Group g : checked) {
            double[] plus = withGate(g, 1 + EPS);
            double[] minus = withGate(g, 1 - EPS);
            double fisher = 0;
            for (int i = 0; i < N; i++) {
                double d = (plus[i] - minus[i]) / (2 * EPS);
                fisher += d * d / N;
            }
            assertThat(score(g, scores.fisher())).as("fisher %s", g.id()).isCloseTo(fisher, tolerance(fisher));
            assertThat(fisher).as("non-trivial %s", g.id()).isGreaterThan(1e-8);
        }
    }

    private static double[] withGate(Group g, double value) {
        TransformerBlock block = model.network().blocks().get(g.block());
        BlockConfig bc = model.config().blocks().get(g.block());
        try (NDManager m = model.djlModel().getNDManager().newSubManager()) {
            switch (g.kind()) {
                case HEAD -> block.attention().setHeadGate(m.create(oneHot(bc.heads(), g.index(), value)));
                case NEURON -> block.mlp().setNeuronGate(m.create(oneHot(bc.mlpDim(), g.index(), value)));
                case BLOCK -> block.setBlockGate(m.create(new float[] {(float) value}));
                case STEM -> {
                    NDArray[] stem = new NDArray[model.config().stemLayers()];
                    stem[g.block()] = m.create(oneHot(model.config().stemWidths().get(g.block()), g.index(), value));
                    model.network().embedding().setStemGates(stem);
                }
            }
            return losses();
        } finally {
            ModelSlicer.clearGates(model);
        }
    }

    private static float[] oneHot(int n, int at, double value) {
        float[] v = new float[n];
        java.util.Arrays.fill(v, 1f);
        v[at] = (float) value;
        return v;
    }

    // ---- Taylor: |sum w dL/dw| is the derivative of the mean loss along scaling the group's weights ----

    @Test
    void taylorEqualsTheDerivativeOfTheMeanLossAlongScalingTheGroup() {
        List<Group> checked = List.of(new Group(Group.Kind.HEAD, 0, 2), new Group(Group.Kind.HEAD, 1, 0),
                new Group(Group.Kind.NEURON, 3, 4), new Group(Group.Kind.BLOCK, 2, -1),
                new Group(Group.Kind.STEM, 0, 2), new Group(Group.Kind.STEM, 1, 0));
        for (Group g : checked) {
            double plus = mean(withScaledGroup(g, 1 + EPS));
            double minus = mean(withScaledGroup(g, 1 - EPS));
            double taylor = Math.abs((plus - minus) / (2 * EPS));
            assertThat(score(g, scores.taylor())).as("taylor %s", g.id()).isCloseTo(taylor, tolerance(taylor));
            assertThat(taylor).as("non-trivial %s", g.id()).isGreaterThan(1e-6);
        }
    }

    private static double[] withScaledGroup(Group g, double factor) {
        List<Runnable> restore = new ArrayList<>();
        for (WeightRef ref : weightsOf(g)) {
            float[] v = ref.values();
            float[] copy = v.clone();
            for (int idx : ref.indices()) {
                v[idx] *= (float) factor;
            }
            ref.write(v);
            restore.add(() -> ref.write(copy));
        }
        try {
            return losses();
        } finally {
            restore.forEach(Runnable::run);
        }
    }

    // ---- OBD: 1/2 sum E[g^2] w^2 with per-sample, per-weight finite-difference gradients ----

    @Test
    void obdEqualsHalfTheFisherDiagonalTimesSquaredWeights() {
        List<Group> checked = List.of(new Group(Group.Kind.NEURON, 0, 5), new Group(Group.Kind.HEAD, 3, 1),
                new Group(Group.Kind.STEM, 0, 1));
        for (Group g : checked) {
            double obd = 0;
            for (WeightRef ref : weightsOf(g)) {
                float[] v = ref.values();
                for (int idx : ref.indices()) {
                    float w = v[idx];
                    v[idx] = (float) (w + EPS);
                    ref.write(v);
                    double[] plus = losses();
                    v[idx] = (float) (w - EPS);
                    ref.write(v);
                    double[] minus = losses();
                    v[idx] = w;
                    ref.write(v);
                    double meanSquare = 0;
                    for (int i = 0; i < N; i++) {
                        double grad = (plus[i] - minus[i]) / (2 * EPS);
                        meanSquare += grad * grad / N;
                    }
                    obd += 0.5 * meanSquare * w * w;
                }
            }
            assertThat(score(g, scores.obd())).as("obd %s", g.id()).isCloseTo(obd, tolerance(obd));
            assertThat(obd).as("non-trivial %s", g.id()).isGreaterThan(1e-8);
        }
    }

    private static org.assertj.core.data.Offset<Double> tolerance(double expected) {
        return org.assertj.core.data.Offset.offset(0.03 * Math.abs(expected) + 1e-7);
    }

    private static double mean(double[] v) {
        return java.util.Arrays.stream(v).average().orElseThrow();
    }

    /** Flat indices of one group inside one named weight; writes go straight into the model's parameter. */
    private record WeightRef(Parameter parameter, int[] indices) {
        float[] values() {
            return parameter.getArray().toFloatArray();
        }

        void write(float[] v) {
            NDArray a = parameter.getArray();
            a.set(FloatBuffer.wrap(v));
        }
    }

    /**
     * A stem channel: its filter (out, in, 3, 3) and bias in its own layer, and its input slice of every filter of the
     * next layer (the next stem convolution, or the patch projection).
     */
    private static List<WeightRef> stemWeightsOf(Group g, Map<String, Parameter> p) {
        VitConfig c = model.config();
        int l = g.block();
        int ch = g.index();
        String own = l == 0 ? "embedding.stem." : "embedding.stem" + l + ".";
        int in = l == 0 ? c.channels() : c.stemWidths().get(l - 1);
        List<WeightRef> out = new ArrayList<>();
        out.add(new WeightRef(p.get(own + "weight"), IntStream.range(ch * in * 9, (ch + 1) * in * 9).toArray()));
        out.add(new WeightRef(p.get(own + "bias"), new int[] {ch}));
        boolean last = l == c.stemLayers() - 1;
        String next = last ? "embedding.patch.weight" : "embedding.stem" + (l + 1) + ".weight";
        long[] shape = p.get(next).getArray().getShape().getShape(); // (out, in = this layer's width, kh, kw)
        int kernel = (int) (shape[2] * shape[3]);
        List<Integer> idx = new ArrayList<>();
        for (int o = 0; o < shape[0]; o++) {
            for (int k = 0; k < kernel; k++) {
                idx.add((int) ((o * shape[1] + ch) * kernel + k));
            }
        }
        out.add(new WeightRef(p.get(next), idx.stream().mapToInt(Integer::intValue).toArray()));
        return out;
    }

    /** The group's weights, written out independently of the estimator's index arithmetic. */
    private static List<WeightRef> weightsOf(Group g) {
        Map<String, Parameter> p = model.namedParameters();
        if (g.kind() == Group.Kind.STEM) {
            return stemWeightsOf(g, p);
        }
        String b = "block" + g.block() + ".";
        BlockConfig bc = model.config().blocks().get(g.block());
        int d = model.config().dim();
        int dh = bc.headDim();
        int heads = bc.heads();
        List<WeightRef> out = new ArrayList<>();
        switch (g.kind()) {
            case HEAD -> {
                // Rows of Q, K and V belonging to head h: (part, h, r) -> part * H * Dh + h * Dh + r.
                IntFunction<int[]> rows = width -> {
                    List<Integer> idx = new ArrayList<>();
                    for (int part = 0; part < 3; part++) {
                        for (int r = 0; r < dh; r++) {
                            int row = (part * heads + g.index()) * dh + r;
                            for (int c = 0; c < width; c++) {
                                idx.add(row * width + c);
                            }
                        }
                    }
                    return idx.stream().mapToInt(Integer::intValue).toArray();
                };
                out.add(new WeightRef(p.get(b + "attention.qkv.weight"), rows.apply(d)));
                out.add(new WeightRef(p.get(b + "attention.qkv.bias"), rows.apply(1)));
                List<Integer> cols = new ArrayList<>();
                for (int row = 0; row < d; row++) {
                    for (int r = 0; r < dh; r++) {
                        cols.add(row * heads * dh + g.index() * dh + r);
                    }
                }
                out.add(new WeightRef(p.get(b + "attention.proj.weight"),
                        cols.stream().mapToInt(Integer::intValue).toArray()));
            }
            case NEURON -> {
                int j = g.index();
                int m = bc.mlpDim();
                int[] fc1 = new int[d];
                int[] fc2 = new int[d];
                for (int c = 0; c < d; c++) {
                    fc1[c] = j * d + c;
                    fc2[c] = c * m + j;
                }
                out.add(new WeightRef(p.get(b + "mlp.fc1.weight"), fc1));
                out.add(new WeightRef(p.get(b + "mlp.fc1.bias"), new int[] {j}));
                out.add(new WeightRef(p.get(b + "mlp.fc2.weight"), fc2));
            }
            case STEM -> throw new IllegalStateException("handled above");
            case BLOCK -> p.forEach((name, param) -> {
                if (name.startsWith(b)) {
                    int[] all = new int[(int) param.getArray().size()];
                    for (int i = 0; i < all.length; i++) {
                        all[i] = i;
                    }
                    out.add(new WeightRef(param, all));
                }
            });
        }
        return out;
    }
}
