package io.vitstream.controller.pruner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.engine.EngineKind;
import io.vitstream.model.FlopCounter;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class MaskSearchTest {
    private static final InputSpec SPEC = InputSpec.fashionMnist();
    private static final VitConfig BASE = VitConfig.uniform(28, 1, 4, 16, 2, 96, 6, 4, 192, 10);

    /** {@code n} random images, labels from {@code label} (or random when negative). */
    private static LabeledImages images(int n, int label, long seed) {
        Random rng = new Random(seed);
        byte[] px = new byte[n * 28 * 28];
        rng.nextBytes(px);
        int[] labels = IntStream.range(0, n).map(i -> label >= 0 ? label : rng.nextInt(10)).toArray();
        return new LabeledImages(px, labels, 28, 28, IntStream.range(0, 10).mapToObj(i -> "c" + i).toList());
    }

    /** Two steps of 16 images at a mask learning rate of 0.05. */
    private static PruneSettings settings(double l1Scale) {
        return new PruneSettings(Path.of("unused"), 16, 16, 0, 1, 16, 1e-3, 4.0, 0.7, 1, 7L, EngineKind.PYTORCH,
                1, CapPruner.DEFAULT_DAMPING, new MaskSettings(1, 32, 0.05, l1Scale));
    }

    private static double mean(float[][] a) {
        return Arrays.stream(a).flatMapToDouble(r -> IntStream.range(0, r.length).mapToDouble(i -> r[i])).average()
                .orElseThrow();
    }

    @Test
    void slimL1PullsEveryMaskDownAndTheWeightsTrainJointly() {
        try (VitModel parent = TinyModels.randomModel(null, 3)) {
            LabeledImages train = images(32, -1, 1);
            float[] before = parent.exportWeights(parent.djlModel().getNDManager()).get(5).toFloatArray();
            try (MaskSearch.Result free = MaskSearch.search(Saliency.Method.VIT_SLIM, parent, SPEC, train, null,
                    settings(0), f -> {});
                    MaskSearch.Result sparse = MaskSearch.search(Saliency.Method.VIT_SLIM, parent, SPEC, train, null,
                            settings(1000), f -> {})) {
                // The L1 term dominates at this weight: each of the two Adam steps moves every mask down by ~0.05.
                for (float[][] part : List.of(sparse.attention(), sparse.mlp())) {
                    for (float[] row : part) {
                        for (float v : row) {
                            assertThat(v).isLessThan(0.92f).isGreaterThan(0.88f);
                        }
                    }
                }
                assertThat(mean(free.attention())).isGreaterThan(mean(sparse.attention()) + 0.05);
                assertThat(mean(free.mlp())).isGreaterThan(mean(sparse.mlp()) + 0.05);
                // Shapes: (H * Dh) per block on q/k/v, (M) on the MLP.
                for (int b = 0; b < TinyModels.CONFIG.depth(); b++) {
                    var bc = TinyModels.CONFIG.blocks().get(b);
                    assertThat(sparse.attention()[b]).hasSize(bc.heads() * bc.headDim());
                    assertThat(sparse.mlp()[b]).hasSize(bc.mlpDim());
                }
                // A head's score is the mean |mask| over its dimensions.
                List<Group> groups = Group.all(TinyModels.CONFIG);
                int g = groups.indexOf(new Group(Group.Kind.HEAD, 1, 1));
                double expected = IntStream.range(5, 10).mapToDouble(d -> Math.abs(sparse.attention()[1][d]))
                        .average().orElseThrow();
                assertThat(sparse.scores()[g]).isCloseTo(expected, org.assertj.core.data.Offset.offset(1e-6));
                // Joint training: the search copy's weights moved, the parent's did not.
                assertThat(sparse.searched()).isNotNull();
                float[] searched = sparse.searched().exportWeights(sparse.searched().djlModel().getNDManager())
                        .get(5).toFloatArray();
                float[] parentNow = parent.exportWeights(parent.djlModel().getNDManager()).get(5).toFloatArray();
                assertThat(parentNow).containsExactly(before);
                assertThat(searched).isNotEqualTo(before);
            }
        }
    }

    @Test
    void xPrunerOnlyTheLabelsMaskGetsGradient() {
        try (VitModel parent = TinyModels.randomModel(null, 4)) {
            LabeledImages train = images(32, 3, 2); // every image is class 3
            try (MaskSearch.Result r = MaskSearch.search(Saliency.Method.X_PRUNER, parent, SPEC, train, null,
                    settings(0), f -> {})) {
                assertThat(r.searched()).as("the parent's weights are sliced").isNull();
                int moved = 0;
                for (int b = 0; b < TinyModels.CONFIG.depth(); b++) {
                    var bc = TinyModels.CONFIG.blocks().get(b);
                    for (int[] sizes : new int[][] {{0, bc.heads()}, {1, bc.mlpDim()}}) {
                        float[] m = sizes[0] == 0 ? r.attention()[b] : r.mlp()[b];
                        int units = sizes[1];
                        assertThat(m).hasSize(10 * units);
                        for (int k = 0; k < 10; k++) {
                            for (int u = 0; u < units; u++) {
                                if (k != 3) {
                                    assertThat(m[k * units + u]).as("class %d, unit %d", k, u).isEqualTo(1f);
                                } else if (m[k * units + u] != 1f) {
                                    moved++;
                                }
                            }
                        }
                    }
                }
                assertThat(moved).as("the label's row learns").isGreaterThan(50);
                // A unit's score is the sum over classes of |mask|.
                int g = Group.all(TinyModels.CONFIG).indexOf(new Group(Group.Kind.NEURON, 2, 4));
                assertThat(r.scores()[g]).isCloseTo(9 + Math.abs(r.mlp()[2][3 * 20 + 4]),
                        org.assertj.core.data.Offset.offset(1e-5));
            }
            try (MaskSearch.Result down = MaskSearch.search(Saliency.Method.X_PRUNER, parent, SPEC,
                    images(32, 3, 2), null, settings(1000), f -> {})) {
                assertThat(down.mlp()[0][3 * 16]).as("L1 pulls the label's row down").isLessThan(0.92f);
                assertThat(down.mlp()[0][0]).as("other classes untouched, the penalty included").isEqualTo(1f);
            }
        }
    }

    @Test
    void thresholdMeetsTheBudgetWithinOneGroupAtOneFractionPerType() {
        List<Group> groups = Group.all(BASE);
        Random rng = new Random(11);
        double[] s = groups.stream().mapToDouble(x -> rng.nextDouble()).toArray();
        long before = FlopCounter.perImage(BASE);
        for (Saliency.Method method : List.of(Saliency.Method.VIT_SLIM, Saliency.Method.X_PRUNER)) {
            for (double ratio : new double[] {0.8, 0.5, 0.3}) {
                SaliencyScores scores = new SaliencyScores(groups, s, s, s, 1).withMasks(new MaskSearch.Result(
                        method, s, new float[0][], new float[0][], null, java.util.Map.of()));
                long target = Math.round(ratio * before);
                PrunePlan plan = PrunePlanner.plan(BASE, null, scores, method, target);
                assertThat(plan.method()).isEqualTo(method);
                PrunePlan.Removal last = plan.removed().get(plan.removed().size() - 1);
                assertThat(plan.flopsAfter()).isLessThanOrEqualTo(target).isGreaterThan(target - last.flops());
                assertThat(plan.keptBlocks()).hasSize(BASE.depth());
                assertThat(plan.removed()).noneMatch(r -> r.group().startsWith("stem") || !r.group().contains("."));
                // Per type, everything removed scores below everything kept (but a block's protected last unit).
                for (Group.Kind kind : List.of(Group.Kind.HEAD, Group.Kind.NEURON)) {
                    double maxRemoved = -1;
                    double minKept = 2;
                    for (int g = 0; g < groups.size(); g++) {
                        Group x = groups.get(g);
                        if (x.kind() != kind) {
                            continue;
                        }
                        List<Integer> kept = kind == Group.Kind.HEAD ? plan.keptHeads().get(x.block())
                                : plan.keptNeurons().get(x.block());
                        if (!kept.contains(x.index())) {
                            maxRemoved = Math.max(maxRemoved, s[g]);
                        } else if (kept.size() > 1) {
                            minKept = Math.min(minKept, s[g]);
                        }
                    }
                    assertThat(maxRemoved).as("%s %s at %.1f", method, kind, ratio).isLessThanOrEqualTo(minKept);
                }
            }
        }
    }

    @Test
    void scaledL1KeepsTheAuthorsPenaltyAtInitialisation() {
        MaskSearch.L1 l1 = MaskSearch.scaledL1(BASE, 1.0);
        assertThat(l1.attention()).isCloseTo(1.6e-3, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(l1.mlp()).isCloseTo(8e-4, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(Saliency.Method.parse("vit-slim")).isEqualTo(Saliency.Method.VIT_SLIM);
        assertThat(Saliency.Method.parse("X-Pruner").id()).isEqualTo("x-pruner");
        assertThatThrownBy(() -> Saliency.Method.parse("slim")).hasMessageContaining("vit-slim or x-pruner");
        assertThatThrownBy(() -> new MaskSettings(0, 10, 0.01, 1)).hasMessageContaining("epochs");
    }
}
