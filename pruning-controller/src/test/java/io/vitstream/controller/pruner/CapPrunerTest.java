package io.vitstream.controller.pruner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.FashionMnist;
import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.model.BlockConfig;
import io.vitstream.model.FlopCounter;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.VitModel;
import io.vitstream.testing.TestData;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** CAP's structured OBS step: its algebra on a random layer, and the whole path on a tiny model with real images. */
class CapPrunerTest {
    private static final int N = 48;
    private static final InputSpec SPEC = InputSpec.fashionMnist();

    private static VitModel parent;
    private static LabeledImages calibration;
    private static float[] pixels;
    private static SaliencyScores scores;
    private static final double TARGET = 0.35;
    private static PrunePlan plan;
    private static PrunePlan obdPlan;

    @BeforeAll
    static void plan() {
        parent = TinyModels.randomModel(TinyModels.SPARSIFIER, 31);
        calibration = FashionMnist.load(TestData.fashionMnist(), FashionMnist.Split.TEST).limit(N);
        pixels = SPEC.batch(calibration, IntStream.range(0, N).toArray(), 0, N);
        SaliencyScores oneless = SaliencyEstimator.estimate(parent, SPEC, calibration, f -> {});
        LayerInputHessians inputs = LayerInputHessians.collect(parent, SPEC, calibration, f -> {});
        scores = oneless.withCap(new SaliencyScores.Cap(CapPruner.scores(parent, inputs, CapPruner.DEFAULT_DAMPING,
                oneless.groups(), oneless.obd()), inputs, CapPruner.DEFAULT_DAMPING));
        long before = FlopCounter.perImage(parent.config());
        plan = PrunePlanner.plan(parent.config(), TinyModels.SPARSIFIER, scores, Saliency.Method.CAP,
                Math.round(TARGET * before));
        obdPlan = PrunePlanner.plan(parent.config(), TinyModels.SPARSIFIER, scores, Saliency.Method.OBD,
                Math.round(TARGET * before));
    }

    @AfterAll
    static void close() {
        parent.close();
    }

    @Test
    void sequentialObsRemovalEndsAtTheJointLeastSquaresOptimumAndItsCostsAddUp() {
        Random rng = new Random(5);
        int out = 3;
        int in = 7;
        int samples = 40;
        double[][] x = new double[samples][in + 1]; // correlated inputs, a constant 1 last
        for (double[] row : x) {
            double common = rng.nextGaussian();
            for (int c = 0; c < in; c++) {
                row[c] = common * (c % 3) + rng.nextGaussian();
            }
            row[in] = 1;
        }
        double[][] h = new double[in + 1][in + 1];
        for (double[] row : x) {
            for (int i = 0; i <= in; i++) {
                for (int j = 0; j <= in; j++) {
                    h[i][j] += 2.0 * row[i] * row[j] / samples;
                }
            }
        }
        float[] w = new float[out * in];
        float[] b = new float[out];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) rng.nextGaussian();
        }
        for (int i = 0; i < out; i++) {
            b[i] = (float) rng.nextGaussian();
        }
        int[][] groups = {{0}, {1, 2}, {3}, {4, 5}, {6}};
        ObsLayer layer = new ObsLayer(w, b, h, groups, 0.01);
        ObsLayer.Trace trace = layer.greedy(List.of(0, 1, 3), 3);
        assertThat(trace.order()).containsExactlyInAnyOrder(0, 1, 3);

        // Joint optimum with columns S = {0, 1, 2, 4, 5} at 0: w'_R = (w H_{., R}) (H_RR)^-1 on the damped H.
        double lambda = layer.lambda();
        int[] kept = {3, 6, 7};
        double[][] hrr = new double[kept.length][kept.length];
        for (int a = 0; a < kept.length; a++) {
            for (int c = 0; c < kept.length; c++) {
                hrr[a][c] = h[kept[a]][kept[c]] + (a == c ? lambda : 0);
            }
        }
        double[][] hrrInv = Linalg.inverseSpd(hrr);
        float[] w1 = layer.weight();
        float[] b1 = layer.bias();
        double costSum = 0;
        for (int r = 0; r < out; r++) {
            double[] full = new double[in + 1];
            for (int c = 0; c < in; c++) {
                full[c] = w[r * in + c];
            }
            full[in] = b[r];
            double[] rhs = new double[kept.length]; // (w Hd)_R
            for (int a = 0; a < kept.length; a++) {
                for (int c = 0; c <= in; c++) {
                    rhs[a] += full[c] * (h[c][kept[a]] + (c == kept[a] ? lambda : 0));
                }
            }
            double[] optimum = new double[in + 1];
            for (int a = 0; a < kept.length; a++) {
                for (int c = 0; c < kept.length; c++) {
                    optimum[kept[a]] += rhs[c] * hrrInv[c][a];
                }
            }
            for (int c = 0; c < in; c++) {
                assertThat((double) w1[r * in + c]).as("row %d column %d", r, c).isCloseTo(optimum[c], within(1e-5));
            }
            assertThat((double) b1[r]).as("bias %d", r).isCloseTo(optimum[in], within(1e-5));
            double[] delta = new double[in + 1];
            for (int c = 0; c <= in; c++) {
                delta[c] = optimum[c] - full[c];
            }
            double[][] damped = new double[in + 1][];
            for (int i = 0; i <= in; i++) {
                damped[i] = h[i].clone();
                damped[i][i] += lambda;
            }
            costSum += Linalg.halfQuadratic(delta, in + 1, damped);
        }
        // The greedy costs are the loss increments along the way: they sum to the final loss.
        assertThat(java.util.Arrays.stream(trace.costs()).sum()).isCloseTo(costSum, within(1e-6 * costSum));
    }

    @Test
    void capPlanTakesOBDsShareOfEachLayerAndCAPsOrderWithinIt() {
        assertThat(plan.method()).isEqualTo(Saliency.Method.CAP);
        assertThat(plan.removed()).anyMatch(r -> r.group().contains(".head"));
        assertThat(plan.flopsAfter()).isEqualTo(obdPlan.flopsAfter())
                .isLessThanOrEqualTo(Math.round(TARGET * FlopCounter.perImage(parent.config())));
        assertThat(plan.after()).isEqualTo(obdPlan.after());
        assertThat(plan.keptBlocks()).isEqualTo(obdPlan.keptBlocks());
        assertThat(plan.keptStem()).isEqualTo(obdPlan.keptStem());
        // Same counts per layer as OBD, but not the same units: CAP chose them.
        assertThat(plan.keptNeurons()).isNotEqualTo(obdPlan.keptNeurons());
        // Within a layer the removed units are the first of CAP's order: scores rise along it.
        for (int b : plan.keptBlocks()) {
            BlockConfig bc = parent.config().blocks().get(b);
            assertPrefix(b, Group.Kind.NEURON, bc.mlpDim(), plan.keptNeurons().get(b));
            assertPrefix(b, Group.Kind.HEAD, bc.heads(), plan.keptHeads().get(b));
        }
    }

    private static void assertPrefix(int block, Group.Kind kind, int units, List<Integer> kept) {
        double maxRemoved = Double.NEGATIVE_INFINITY;
        double minKept = Double.POSITIVE_INFINITY;
        for (int j = 0; j < units; j++) {
            double s = scores.cap().scores()[scores.groups().indexOf(new Group(kind, block, j))];
            if (kept.contains(j)) {
                minKept = Math.min(minKept, s);
            } else {
                maxRemoved = Math.max(maxRemoved, s);
            }
        }
        assertThat(maxRemoved).as("block %d %s", block, kind).isLessThan(minKept);
    }

    @Test
    void correctionBringsEachConsumingLayersOutputCloserToTheParentsOnTheCalibrationInputs() {
        Map<String, Object> recipe = new LinkedHashMap<>();
        Map<String, List<float[]>> inputs = recordLayerInputs(parent);
        try (VitModel corrected = PruneJob.slice(parent, plan, scores, recipe);
                VitModel dropped = ModelSlicer.slice(parent, plan)) {
            CapPruner.Correction correction = CapPruner.correct(parent, plan, scores.cap().inputs(),
                    scores.cap().damping());
            assertThat(correction.layers()).isNotEmpty();
            for (CapPruner.LayerReport r : correction.layers()) {
                int b = Integer.parseInt(r.layer().replaceAll("^block(\\d+)\\..*", "$1"));
                int newIndex = plan.keptBlocks().indexOf(b);
                BlockConfig bc = parent.config().blocks().get(b);
                boolean mlp = r.layer().endsWith("mlp.fc2");
                List<Integer> keptColumns = mlp ? plan.keptNeurons().get(b) : headColumns(plan.keptHeads().get(b),
                        bc.headDim());
                String child = "block" + newIndex + (mlp ? ".mlp.fc2" : ".attention.proj");
                int width = mlp ? bc.mlpDim() : bc.attentionDim();
                float[] w0 = weight(parent, r.layer() + ".weight");
                float[] b0 = weight(parent, r.layer() + ".bias");
                double[] errors = new double[2];
                double energy = 0;
                float[][] childW = {weight(dropped, child + ".weight"), weight(corrected, child + ".weight")};
                float[][] childB = {weight(dropped, child + ".bias"), weight(corrected, child + ".bias")};
                for (float[] x : inputs.get(r.layer())) { // (tokens, width) of the parent's calibration pass
                    int tokens = x.length / width;
                    for (int t = 0; t < tokens; t++) {
                        for (int o = 0; o < b0.length; o++) {
                            double y = b0[o];
                            for (int c = 0; c < width; c++) {
                                y += (double) w0[o * width + c] * x[t * width + c];
                            }
                            energy += y * y;
                            for (int k = 0; k < 2; k++) {
                                float[] w = childW[k];
                                double yk = childB[k][o];
                                for (int c = 0; c < keptColumns.size(); c++) {
                                    yk += (double) w[o * keptColumns.size() + c] * x[t * width + keptColumns.get(c)];
                                }
                                errors[k] += (yk - y) * (yk - y);
                            }
                        }
                    }
                }
                double droppedError = errors[0] / energy;
                double correctedError = errors[1] / energy;
                assertThat(correctedError).as("%s: corrected vs dropped", r.layer()).isLessThan(droppedError);
                assertThat(droppedError).as("%s: the removal mattered", r.layer()).isGreaterThan(1e-4);
                // The report computes the same from the Hessian alone.
                assertThat(r.relativeErrorPruned()).isCloseTo(droppedError, within(1e-3 * droppedError + 1e-9));
                assertThat(r.relativeErrorCorrected()).isCloseTo(correctedError,
                        within(1e-3 * correctedError + 1e-9));
            }
            assertThat(recipe).containsKey("cap");
        }
    }

    @Test
    void capPipelineMakesAValidSmallerModelThatEqualsTheCorrectedParentGated(@TempDir Path dir) throws Exception {
        CapPruner.Correction correction = CapPruner.correct(parent, plan, scores.cap().inputs(),
                scores.cap().damping());
        try (VitModel child = PruneJob.slice(parent, plan, scores, null);
                VitModel correctedParent = VitModel.create(parent.config(), TinyModels.SPARSIFIER);
                NDManager scope = correctedParent.djlModel().getNDManager().newSubManager()) {
            assertThat(child.config()).isEqualTo(plan.after());
            assertThat(child.parameterCount()).isLessThan(parent.parameterCount());
            // The parent with the corrected weights in place and the removed units gated off is the child.
            var weights = parent.exportWeights(scope);
            for (int i = 0; i < weights.size(); i++) {
                float[] r = correction.weights().get(weights.get(i).getName());
                if (r != null) {
                    var a = scope.create(r, weights.get(i).getShape());
                    a.setName(weights.get(i).getName());
                    weights.set(i, a);
                }
            }
            correctedParent.importWeights(weights, "corrected parent");
            ModelSlicer.applyGates(correctedParent, plan, scope);
            float[][] expected = correctedParent.logits(pixels, N);
            ModelSlicer.clearGates(correctedParent);
            ModelSlicerTest.assertClose(child.logits(pixels, N), expected);
            assertThat(child.logits(pixels, N, KeepPolicy.learned(0.6))).hasNumberOfRows(N);

            Path out = dir.resolve("cap");
            Manifest written = ModelArtifact.save(out, child, new Manifest(Manifest.FORMAT_VERSION, "tiny-cap", "tiny",
                    plan.after(), FashionMnist.CLASS_NAMES, SPEC, 0, 0, null, null,
                    Map.of("pruning", plan.toManifest(), "cap", correction.toManifest()), null,
                    Instant.now().toString(), plan.sparsifierAfter()));
            assertThat(written.flopsPerImage()).isEqualTo(plan.flopsAfter());
            try (ModelArtifact.Loaded loaded = ModelArtifact.load(out)) {
                assertThat(loaded.manifest().training().get("pruning")).asString().contains("saliency=cap");
                ModelSlicerTest.assertClose(loaded.model().logits(pixels, N), child.logits(pixels, N));
            }
        }
    }

    /** Per consuming layer of the parent, its input on the calibration images, one (tokens, width) array per batch. */
    private static Map<String, List<float[]>> recordLayerInputs(VitModel model) {
        Map<String, List<float[]>> out = new LinkedHashMap<>();
        var blocks = model.network().blocks();
        for (int b = 0; b < blocks.size(); b++) {
            List<float[]> fc2 = new ArrayList<>();
            List<float[]> proj = new ArrayList<>();
            out.put("block" + b + ".mlp.fc2", fc2);
            out.put("block" + b + ".attention.proj", proj);
            blocks.get(b).mlp().setFc2InputTap(x -> fc2.add(x.toFloatArray()));
            blocks.get(b).attention().setProjectionInputTap(x -> proj.add(x.toFloatArray()));
        }
        try {
            model.logits(pixels, N);
        } finally {
            blocks.forEach(block -> {
                block.mlp().setFc2InputTap(null);
                block.attention().setProjectionInputTap(null);
            });
        }
        return out;
    }

    private static List<Integer> headColumns(List<Integer> heads, int headDim) {
        List<Integer> cols = new ArrayList<>();
        for (int h : heads) {
            for (int r = 0; r < headDim; r++) {
                cols.add(h * headDim + r);
            }
        }
        return cols;
    }

    private static float[] weight(VitModel model, String name) {
        return model.namedParameters().get(name).getArray().toFloatArray();
    }
}
