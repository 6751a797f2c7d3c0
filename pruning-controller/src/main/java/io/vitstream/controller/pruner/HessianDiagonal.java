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
import io.vitstream.model.VitModel;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.DoubleConsumer;
import java.util.stream.IntStream;

/**
 * The diagonal of the Hessian of the mean calibration loss (cross-entropy of the true label, dense path), estimated
 * by Hutchinson's method: {@code diag(H) = E[z * Hz]} for Rademacher {@code z} (entries +-1, so {@code z_i^2 = 1} and
 * the off-diagonal terms average out). Each Hessian-vector product is a central difference of gradients, {@code Hz ~
 * (g(w + e z) - g(w - e z)) / (2e)}: two gradient passes over the calibration set per probe, no double backprop
 * (DJL does not expose it).
 *
 * <p>The step: {@code e = RELATIVE_STEP * ||w|| / ||z||} over the probed weights, so that the perturbation {@code e z}
 * is 0.1% of the weights' norm (each weight moves by 0.1% of the weights' RMS) whatever the model's size or scale. A
 * central difference errs by O(e^2) where the curvature changes over the step, and by the gradients' float32 rounding
 * (about 1e-7 of their size) divided by the change the step makes. The loss is smooth (GELU, softmax, LayerNorm; no
 * kinks), so 0.1% of the weights' scale keeps the first small, while the gradients still change by about that share,
 * four orders of magnitude above their rounding. On the tiny test model (weights' RMS 0.3), steps of 1e-2 to 1e-4
 * along one weight give the same diagonal entry within 1%; the unit test checks the estimate against brute force.
 * Weights are moved and restored in place.
 */
public final class HessianDiagonal {
    /** The perturbation's norm as a share of the probed weights' norm (see the class comment). */
    public static final double RELATIVE_STEP = 1e-3;
    /** Calibration images per forward/backward pass of a gradient (memory, not accuracy: the sum is the same). */
    static final int BATCH = 128;

    private HessianDiagonal() {}

    /**
     * @param diagonal per backbone weight name, its estimated {@code H_ii} (row-major like the weight; 0 where not
     *     probed)
     * @param probes Rademacher probes averaged
     * @param step the finite-difference step {@code e}
     */
    public record Estimate(Map<String, double[]> diagonal, int probes, double step) {
        /**
         * OBD's saliency with this diagonal, {@code 1/2 * sum over the group of H_ii w_i^2}, per group of
         * {@code model} (whose weights the diagonal was estimated at), in the order of {@code groups}.
         */
        public double[] obdSaliency(VitModel model, List<Group> groups) {
            Map<String, float[]> weights = new LinkedHashMap<>();
            Map<String, float[]> curvature = new LinkedHashMap<>();
            SaliencyEstimator.backbone(model).forEach((name, p) -> {
                weights.put(name, p.getArray().toFloatArray());
                double[] d = diagonal.get(name);
                float[] f = new float[d.length];
                for (int i = 0; i < d.length; i++) {
                    f[i] = (float) d[i];
                }
                curvature.put(name, f);
            });
            // GroupSums' second sum is sum(curvature * w^2); its first (w * gradient) is not needed here.
            SaliencyEstimator.GroupSums sums = new SaliencyEstimator.GroupSums(model.config(), weights, curvature,
                    curvature);
            double[] out = new double[groups.size()];
            for (int g = 0; g < groups.size(); g++) {
                out[g] = 0.5 * sums.of(groups.get(g))[1];
            }
            return out;
        }
    }

    /** The diagonal of every backbone weight (all but the token predictors). */
    public static Estimate estimate(VitModel model, InputSpec input, LabeledImages calibration, int probes, long seed,
            DoubleConsumer progress) {
        return estimate(model, input, calibration, probes, seed, null, progress);
    }

    /**
     * As above, probing only {@code subset} (weight name to flat indices; null: every backbone weight). The diagonal
     * of a principal submatrix is the same entries of {@code H}'s diagonal, with less probe noise (only the
     * off-diagonal terms inside the subset remain): what a test checks against brute force.
     *
     * @param progress receives the share of probes done, in [0, 1]
     */
    public static Estimate estimate(VitModel model, InputSpec input, LabeledImages calibration, int probes, long seed,
            Map<String, int[]> subset, DoubleConsumer progress) {
        if (probes < 1) {
            throw new IllegalArgumentException("Hutchinson needs at least one probe, got " + probes);
        }
        if (calibration.count() < 1) {
            throw new IllegalArgumentException("the Hessian diagonal needs at least one calibration image");
        }
        Map<String, Parameter> backbone = SaliencyEstimator.backbone(model);
        Map<String, int[]> probed = new LinkedHashMap<>();
        if (subset == null) {
            backbone.forEach((name, p) -> probed.put(name, IntStream.range(0, (int) p.getArray().size()).toArray()));
        } else {
            subset.forEach((name, idx) -> {
                if (!backbone.containsKey(name)) {
                    throw new IllegalArgumentException("no backbone weight " + name);
                }
                probed.put(name, idx.clone());
            });
        }
        double squares = 0;
        long count = 0;
        for (Map.Entry<String, int[]> e : probed.entrySet()) {
            float[] w = backbone.get(e.getKey()).getArray().toFloatArray();
            for (int i : e.getValue()) {
                squares += (double) w[i] * w[i];
            }
            count += e.getValue().length;
        }
        if (count == 0 || squares == 0) {
            throw new IllegalArgumentException("nothing to probe: no weights, or all of them zero");
        }
        double step = RELATIVE_STEP * Math.sqrt(squares) / Math.sqrt(count); // ||z|| = sqrt(count) for +-1 entries
        Map<String, double[]> diagonal = new LinkedHashMap<>();
        backbone.forEach((name, p) -> diagonal.put(name, new double[(int) p.getArray().size()]));
        Random rng = new Random(seed);
        // Weights are moved and restored in place, by NDArray ops on their own storage: (w - w) + original is
        // exactly the original, and no Java buffer ever backs a parameter.
        try (NDManager keep = model.djlModel().getNDManager().newSubManager(); NoGrad ignored = new NoGrad()) {
            Map<String, NDArray> original = new LinkedHashMap<>();
            probed.keySet().forEach(name -> {
                NDArray copy = backbone.get(name).getArray().duplicate();
                copy.attach(keep);
                original.put(name, copy);
            });
            try {
                for (int probe = 0; probe < probes; probe++) {
                    Map<String, float[]> z = new LinkedHashMap<>();
                    probed.forEach((name, idx) -> {
                        float[] signs = new float[idx.length];
                        for (int k = 0; k < idx.length; k++) {
                            signs[k] = rng.nextBoolean() ? 1f : -1f;
                        }
                        z.put(name, signs);
                    });
                    Map<String, double[]> plus;
                    Map<String, double[]> minus;
                    try (NDManager scope = keep.newSubManager()) {
                        Map<String, NDArray> delta = new LinkedHashMap<>();
                        probed.forEach((name, idx) -> {
                            NDArray w = backbone.get(name).getArray();
                            float[] d = new float[(int) w.size()];
                            float[] signs = z.get(name);
                            for (int k = 0; k < idx.length; k++) {
                                d[idx[k]] = (float) step * signs[k];
                            }
                            delta.put(name, scope.create(d, w.getShape()));
                        });
                        delta.forEach((name, d) -> moveTo(backbone.get(name).getArray(), original.get(name), d, 1));
                        plus = meanLossGradient(model, backbone, probed.keySet(), input, calibration);
                        delta.forEach((name, d) -> moveTo(backbone.get(name).getArray(), original.get(name), d, -1));
                        minus = meanLossGradient(model, backbone, probed.keySet(), input, calibration);
                    }
                    for (Map.Entry<String, int[]> e : probed.entrySet()) {
                        double[] d = diagonal.get(e.getKey());
                        double[] gp = plus.get(e.getKey());
                        double[] gm = minus.get(e.getKey());
                        float[] signs = z.get(e.getKey());
                        int[] idx = e.getValue();
                        for (int k = 0; k < idx.length; k++) {
                            double hz = (gp[idx[k]] - gm[idx[k]]) / (2 * step);
                            d[idx[k]] += signs[k] * hz / probes;
                        }
                    }
                    progress.accept((probe + 1.0) / probes);
                }
            } finally {
                original.forEach((name, w0) -> {
                    NDArray w = backbone.get(name).getArray();
                    w.subi(w).addi(w0);
                });
            }
        }
        return new Estimate(diagonal, probes, step);
    }

    /** {@code w = original + sign * delta}, in place. */
    private static void moveTo(NDArray w, NDArray original, NDArray delta, int sign) {
        w.subi(w).addi(original);
        if (sign > 0) {
            w.addi(delta);
        } else {
            w.subi(delta);
        }
    }

    /**
     * Autograd off in this thread while weights are written in place (PyTorch refuses in-place ops on leaves that
     * need gradients while it records), restored on close; gradient passes turn it on for themselves.
     */
    private static final class NoGrad implements AutoCloseable {
        private final boolean was = ai.djl.pytorch.jni.JniUtils.isGradMode();

        NoGrad() {
            ai.djl.pytorch.jni.JniUtils.setGradMode(false);
        }

        @Override
        public void close() {
            ai.djl.pytorch.jni.JniUtils.setGradMode(was);
        }
    }

    /**
     * The gradient of the mean cross-entropy over all of {@code calibration} with respect to the weights named in
     * {@code wanted}, by batches whose gradients add up (each batch's loss is its sum over n, not its mean). Only
     * the wanted weights record gradients during the pass; each weight's own setting is restored after.
     */
    static Map<String, double[]> meanLossGradient(VitModel model, Map<String, Parameter> backbone,
            java.util.Set<String> wanted, InputSpec input, LabeledImages calibration) {
        int n = calibration.count();
        Map<String, double[]> sum = new LinkedHashMap<>();
        Map<String, Boolean> previously = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : backbone.entrySet()) {
            NDArray w = e.getValue().getArray();
            previously.put(e.getKey(), w.hasGradient());
            w.setRequiresGradient(wanted.contains(e.getKey())); // the rest need no weight gradients
            if (wanted.contains(e.getKey())) {
                sum.put(e.getKey(), new double[(int) w.size()]);
            }
        }
        int[] order = IntStream.range(0, n).toArray();
        NDManager root = model.djlModel().getNDManager();
        try {
            for (int from = 0; from < n; from += BATCH) {
                int to = Math.min(n, from + BATCH);
                try (NDManager scope = root.newSubManager()) {
                    NDArray x = scope.create(input.batch(calibration, order, from, to),
                            new Shape(to - from, input.channels(), input.height(), input.width()));
                    float[] oneHot = new float[(to - from) * model.config().numClasses()];
                    for (int i = from; i < to; i++) {
                        oneHot[(i - from) * model.config().numClasses() + calibration.labels()[i]] = 1f;
                    }
                    NDArray labels = scope.create(oneHot, new Shape(to - from, model.config().numClasses()));
                    try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                        NDArray logits = model.network()
                                .forward(new ParameterStore(scope, false), new NDList(x), false).singletonOrThrow();
                        NDArray loss = logits.logSoftmax(1).mul(labels).sum().neg().div((float) n);
                        collector.backward(loss);
                    }
                    for (Map.Entry<String, double[]> e : sum.entrySet()) {
                        NDArray g = backbone.get(e.getKey()).getArray().getGradient();
                        g.attach(scope); // the handle only; the gradient's storage stays with the parameter
                        float[] v = g.toFloatArray();
                        double[] s = e.getValue();
                        for (int k = 0; k < v.length; k++) {
                            s[k] += v[k];
                        }
                        g.subi(g); // PyTorch accumulates gradients; start the next batch from zero
                    }
                }
            }
        } finally {
            previously.forEach((name, had) -> backbone.get(name).getArray().setRequiresGradient(had));
        }
        return sum;
    }
}
