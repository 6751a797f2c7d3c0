package io.vitstream.controller.pruner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.pytorch.jni.JniUtils;
import io.vitstream.data.FashionMnist;
import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.model.FlopCounter;
import io.vitstream.model.VitModel;
import io.vitstream.testing.TestData;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The Hutchinson estimate of the Hessian diagonal against brute force on a tiny random model and real images: the
 * mean-loss gradient against central differences of the loss (no autograd), then each diagonal entry of the Hessian
 * on a handful of weights by central differences of that gradient along its own coordinate, one weight at a time.
 */
@Tag("integration")
class HessianDiagonalTest {
    private static final int N = 4;
    private static final InputSpec SPEC = InputSpec.fashionMnist();
    /** Brute-force step on one coordinate (the curvature is smooth on this scale: 1e-2 to 1e-4 agree to 1%). */
    private static final double H = 1e-3;

    private static VitModel model;
    private static LabeledImages calibration;
    private static float[] pixels;

    @BeforeAll
    static void load() {
        model = TinyModels.randomModel(null, 21);
        calibration = FashionMnist.load(TestData.fashionMnist(), FashionMnist.Split.TEST).limit(N);
        pixels = new float[N * SPEC.pixels()];
        for (int i = 0; i < N; i++) {
            SPEC.normalize(calibration.pixels(), i * calibration.imageBytes(), pixels, i * SPEC.pixels());
        }
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** One weight of each kind the groups are made of: QKV, projection, fc1, fc2, a stem filter, the patch filter. */
    private static final List<Map.Entry<String, Integer>> SUBSET = List.of(
            Map.entry("block0.attention.qkv.weight", 17), Map.entry("block1.attention.proj.weight", 9),
            Map.entry("block2.mlp.fc1.weight", 30), Map.entry("block3.mlp.fc2.weight", 5),
            Map.entry("embedding.stem1.weight", 40), Map.entry("embedding.patch.weight", 100));

    @Test
    void theGradientItDifferencesIsTheLossDerivative() {
        Set<String> names = SUBSET.stream().map(Map.Entry::getKey).collect(Collectors.toSet());
        Map<String, double[]> g = HessianDiagonal.meanLossGradient(model, SaliencyEstimator.backbone(model), names,
                SPEC, calibration);
        for (int i = 0; i < SUBSET.size(); i++) {
            double h = 1e-2;
            double fd = (withMoved(i, h, HessianDiagonalTest::loss) - withMoved(i, -h, HessianDiagonalTest::loss))
                    / (2 * h);
            Map.Entry<String, Integer> e = SUBSET.get(i);
            assertThat(g.get(e.getKey())[e.getValue()]).as("dL/dw of %s", e.getKey())
                    .isCloseTo(fd, within(0.02 * Math.abs(fd) + 2e-5));
        }
    }

    @Test
    void hutchinsonAgreesWithTheBruteForceDiagonalWithinItsOwnProbeNoise() {
        int k = SUBSET.size();
        double[][] exact = bruteForceHessian();
        Map<String, int[]> subset = new LinkedHashMap<>();
        SUBSET.forEach(e -> subset.put(e.getKey(), new int[] {e.getValue()}));
        int probes = 128;
        float[] before = weight(SUBSET.get(0).getKey()).toFloatArray();
        HessianDiagonal.Estimate est = HessianDiagonal.estimate(model, SPEC, calibration, probes, 7, subset, f -> {});
        int discriminating = 0;
        for (int i = 0; i < k; i++) {
            Map.Entry<String, Integer> e = SUBSET.get(i);
            double hii = exact[i][i];
            // z_i (Hz)_i = H_ii + sum_{j != i} H_ij z_i z_j: the noise has variance sum_{j != i} H_ij^2 per probe.
            double offDiagonal = 0;
            for (int j = 0; j < k; j++) {
                offDiagonal += j == i ? 0 : exact[i][j] * exact[i][j];
            }
            double noise = Math.sqrt(offDiagonal / probes);
            double tolerance = 4 * noise + 0.02 * Math.abs(hii) + 1e-5; // + finite-difference error of both sides
            double got = est.diagonal().get(e.getKey())[e.getValue()];
            assertThat(got).as("H_ii of %s[%d] (brute force %.5f, probe noise %.5f)", e.getKey(), e.getValue(), hii,
                    noise).isCloseTo(hii, within(tolerance));
            discriminating += Math.abs(hii) > 2 * tolerance ? 1 : 0;
        }
        // Most entries are far from 0 on the scale of the tolerance: an estimator off by a factor, a sign or a wrong
        // step would fail them (curvatures here range over 0.0014 to 0.084, two of them negative).
        assertThat(discriminating).as("entries whose curvature exceeds twice the tolerance").isGreaterThanOrEqualTo(4);
        // Unprobed weights stay 0, and the weights are back exactly as they were.
        assertThat(est.diagonal().get(SUBSET.get(0).getKey())[16]).isZero();
        assertThat(weight(SUBSET.get(0).getKey()).toFloatArray()).containsExactly(before);
    }

    @Test
    void hessianSaliencyIsHalfTheDiagonalTimesSquaredWeightsAndMakesAPlan() {
        HessianDiagonal.Estimate est = HessianDiagonal.estimate(model, SPEC, calibration, 2, 3, f -> {});
        List<Group> groups = Group.all(model.config());
        double[] hessian = est.obdSaliency(model, groups);
        // Neuron j of block 2: its fc1 row and bias and its fc2 column, summed by hand.
        int j = 7;
        int d = model.config().dim();
        int m = model.config().blocks().get(2).mlpDim();
        double expected = 0;
        for (int c = 0; c < d; c++) {
            expected += half(est, "block2.mlp.fc1.weight", j * d + c) + half(est, "block2.mlp.fc2.weight", c * m + j);
        }
        expected += half(est, "block2.mlp.fc1.bias", j);
        assertThat(hessian[groups.indexOf(new Group(Group.Kind.NEURON, 2, j))])
                .isCloseTo(expected, within(1e-6 * Math.abs(expected) + 1e-12));

        SaliencyScores scores = new SaliencyScores(groups, new double[groups.size()], new double[groups.size()],
                new double[groups.size()], 1).withHessian(new SaliencyScores.Hessian(hessian, est.probes(), est.step()));
        long before = FlopCounter.perImage(model.config());
        PrunePlan plan = PrunePlanner.plan(model.config(), null, scores, Saliency.Method.HESSIAN,
                Math.round(0.6 * before));
        assertThat(plan.method()).isEqualTo(Saliency.Method.HESSIAN);
        assertThat(plan.toManifest()).containsEntry("saliency", "hessian");
        assertThat(plan.flopsAfter()).isLessThanOrEqualTo(Math.round(0.6 * before));
        assertThat(plan.removed()).isNotEmpty();
        // The plan ranks by these scores: its first removal carries the hessian score of its group.
        PrunePlan.Removal first = plan.removed().get(0);
        int firstIndex = groups.stream().map(Group::id).toList().indexOf(first.group());
        assertThat(first.saliency()).isEqualTo(hessian[firstIndex]);
        try (VitModel child = ModelSlicer.slice(model, plan)) {
            assertThat(child.logits(pixels, N)).hasNumberOfRows(N);
        }
    }

    private static double half(HessianDiagonal.Estimate est, String name, int idx) {
        double w = model.namedParameters().get(name).getArray().toFloatArray()[idx];
        return 0.5 * est.diagonal().get(name)[idx] * w * w;
    }

    /** The sub-Hessian on {@link #SUBSET}: column j by central differences of the gradient along weight j. */
    private static double[][] bruteForceHessian() {
        int k = SUBSET.size();
        Set<String> names = SUBSET.stream().map(Map.Entry::getKey).collect(Collectors.toSet());
        Map<String, Parameter> backbone = SaliencyEstimator.backbone(model);
        double[][] h = new double[k][k];
        for (int j = 0; j < k; j++) {
            Map<String, double[]> plus = withMoved(j, H,
                    () -> HessianDiagonal.meanLossGradient(model, backbone, names, SPEC, calibration));
            Map<String, double[]> minus = withMoved(j, -H,
                    () -> HessianDiagonal.meanLossGradient(model, backbone, names, SPEC, calibration));
            for (int i = 0; i < k; i++) {
                Map.Entry<String, Integer> e = SUBSET.get(i);
                h[i][j] = (plus.get(e.getKey())[e.getValue()] - minus.get(e.getKey())[e.getValue()]) / (2 * H);
            }
        }
        return h;
    }

    /** {@code f} with weight i of the subset moved by {@code delta}; the weight restored exactly after. */
    private static <T> T withMoved(int i, double delta, Supplier<T> f) {
        Map.Entry<String, Integer> e = SUBSET.get(i);
        NDArray w = weight(e.getKey());
        boolean grad = JniUtils.isGradMode();
        JniUtils.setGradMode(false); // in-place writes on a parameter
        try (NDManager scope = model.djlModel().getNDManager().newSubManager()) {
            NDArray original = w.duplicate();
            original.attach(scope);
            float[] d = new float[(int) w.size()];
            d[e.getValue()] = (float) delta;
            w.addi(scope.create(d, w.getShape()));
            try {
                return f.get();
            } finally {
                w.subi(w).addi(original);
            }
        } finally {
            JniUtils.setGradMode(grad);
        }
    }

    private static NDArray weight(String name) {
        return model.namedParameters().get(name).getArray();
    }

    /** Mean cross-entropy of the calibration images, in double from the logits. */
    private static double loss() {
        float[][] logits = model.logits(pixels, N);
        double sum = 0;
        for (int i = 0; i < N; i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (float v : logits[i]) {
                max = Math.max(max, v);
            }
            double z = 0;
            for (float v : logits[i]) {
                z += Math.exp(v - max);
            }
            sum += -(logits[i][calibration.labels()[i]] - max - Math.log(z));
        }
        return sum / N;
    }
}
