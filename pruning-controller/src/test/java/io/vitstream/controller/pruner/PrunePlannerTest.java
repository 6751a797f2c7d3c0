package io.vitstream.controller.pruner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.model.FlopCounter;
import io.vitstream.model.VitConfig;
import java.util.List;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

class PrunePlannerTest {
    private static final VitConfig BASE = VitConfig.uniform(28, 1, 4, 16, 2, 96, 6, 4, 192, 10);

    private static SaliencyScores randomScores(VitConfig c, long seed) {
        List<Group> groups = Group.all(c);
        Random rng = new Random(seed);
        double[] t = new double[groups.size()];
        double[] f = new double[groups.size()];
        double[] o = new double[groups.size()];
        double[] h = new double[groups.size()];
        double[] cap = new double[groups.size()];
        for (int g = 0; g < groups.size(); g++) {
            double layerScale = Math.pow(10, groups.get(g).block() % 3); // layers on different scales
            t[g] = layerScale * rng.nextDouble();
            f[g] = layerScale * rng.nextDouble() * rng.nextDouble();
            o[g] = layerScale * Math.exp(rng.nextGaussian());
            h[g] = layerScale * rng.nextGaussian(); // a Hutchinson diagonal may be negative
            cap[g] = rng.nextDouble();
        }
        return new SaliencyScores(groups, t, f, o, 1).withHessian(new SaliencyScores.Hessian(h, 1, 1e-3))
                .withCap(new SaliencyScores.Cap(cap, null, CapPruner.DEFAULT_DAMPING))
                .withMasks(new MaskSearch.Result(Saliency.Method.VIT_SLIM, cap, new float[0][], new float[0][], null,
                        java.util.Map.of()))
                .withMasks(new MaskSearch.Result(Saliency.Method.X_PRUNER, h, new float[0][], new float[0][], null,
                        java.util.Map.of()));
    }

    @Test
    void planMeetsTheBudgetWithinOneGroupAndNeverEmptiesABlocksHeads() {
        long before = FlopCounter.perImage(BASE);
        for (double ratio : new double[] {0.2, 0.35, 0.5, 0.65, 0.8, 0.95}) {
            for (Saliency.Method m : Saliency.Method.values()) {
                if (m.searchesMasks() && ratio < 0.3) {
                    continue; // mask methods keep every block and stem channel: 20% is below their smallest model
                }
                SaliencyScores scores = randomScores(BASE, Math.round(ratio * 100) + m.ordinal());
                long target = Math.round(ratio * before);
                PrunePlan plan = PrunePlanner.plan(BASE, null, scores, m, target);
                assertThat(plan.flopsAfter()).as("ratio %s %s", ratio, m).isLessThanOrEqualTo(target);
                assertThat(plan.flopsAfter()).isEqualTo(FlopCounter.perImage(plan.after()));
                long lastGroup = plan.removed().get(plan.removed().size() - 1).flops();
                assertThat(plan.flopsAfter()).as("overshoot < one group at ratio %s %s", ratio, m)
                        .isGreaterThan(target - lastGroup);
                for (int b : plan.keptBlocks()) {
                    assertThat(plan.keptHeads().get(b)).as("block %d heads", b).isNotEmpty();
                    assertThat(plan.keptNeurons().get(b)).as("block %d neurons", b).isNotEmpty();
                }
                assertThat(plan.after().depth()).isEqualTo(plan.keptBlocks().size()).isPositive();
                long savedSum = plan.removed().stream().mapToLong(PrunePlan.Removal::flops).sum();
                assertThat(savedSum).isEqualTo(before - plan.flopsAfter());
            }
        }
    }

    @Test
    void aBlockWhoseSaliencyPerFlopIsLowestGoesWholeAndStagesFollowIt() {
        List<Group> groups = Group.all(TinyModels.CONFIG);
        double[] s = new double[groups.size()];
        for (int g = 0; g < groups.size(); g++) {
            Group x = groups.get(g);
            s[g] = x.kind() == Group.Kind.BLOCK ? (x.block() == 3 ? 1e-6 : 100) : 1;
        }
        SaliencyScores scores = new SaliencyScores(groups, s, s, s, 1);
        long before = FlopCounter.perImage(TinyModels.CONFIG);
        long block3 = new Group(Group.Kind.BLOCK, 3, -1).flops(TinyModels.CONFIG);
        PrunePlan plan = PrunePlanner.plan(TinyModels.CONFIG, TinyModels.SPARSIFIER, scores,
                Saliency.Method.FISHER, before - block3 + 1);
        assertThat(plan.removed()).extracting(PrunePlan.Removal::group).containsExactly("block3");
        assertThat(plan.keptBlocks()).containsExactly(0, 1, 2);
        assertThat(plan.sparsifierAfter().stages()).containsExactly(1, 2);
    }

    @Test
    void aBlockThatWouldLandFarUnderTheBudgetWaitsForFinerGroups() {
        List<Group> groups = Group.all(TinyModels.CONFIG);
        double[] s = new double[groups.size()];
        for (int g = 0; g < groups.size(); g++) {
            // The tiny model's stem channels are each a tenth of its FLOPs: kept out of the way (salient) here.
            Group.Kind k = groups.get(g).kind();
            s[g] = k == Group.Kind.BLOCK ? 1e-9 : k == Group.Kind.STEM ? 1e3 : 1;
        }
        SaliencyScores scores = new SaliencyScores(groups, s, s, s, 1);
        long before = FlopCounter.perImage(TinyModels.CONFIG);
        long target = Math.round(0.97 * before); // a few percent: less than half of any block
        PrunePlan plan = PrunePlanner.plan(TinyModels.CONFIG, TinyModels.SPARSIFIER, scores,
                Saliency.Method.TAYLOR, target);
        assertThat(plan.keptBlocks()).containsExactly(0, 1, 2, 3);
        assertThat(plan.flopsAfter()).isLessThanOrEqualTo(target).isGreaterThan(Math.round(0.9 * before));
    }

    @Test
    void aBlockIsKeptWhenRemovingItWouldMergeTwoSparsifierStages() {
        List<Group> groups = Group.all(TinyModels.CONFIG);
        double[] s = new double[groups.size()];
        for (int g = 0; g < groups.size(); g++) {
            Group x = groups.get(g);
            // Block 1 sits between stages 1 and 2: removing it would merge them.
            s[g] = x.kind() == Group.Kind.BLOCK ? (x.block() == 1 ? 1e-9 : 100) : 1;
        }
        SaliencyScores scores = new SaliencyScores(groups, s, s, s, 1);
        long before = FlopCounter.perImage(TinyModels.CONFIG);
        PrunePlan plan = PrunePlanner.plan(TinyModels.CONFIG, TinyModels.SPARSIFIER, scores,
                Saliency.Method.OBD, Math.round(0.6 * before));
        assertThat(plan.keptBlocks()).contains(1);
        assertThat(plan.sparsifierAfter().stages()).hasSize(2);
    }

    @Test
    void layerNormalisationPutsLayersOnOneScaleButKeepsKindsApart() {
        List<Group> groups = Group.all(TinyModels.CONFIG);
        double[] raw = new double[groups.size()];
        for (int g = 0; g < groups.size(); g++) {
            Group x = groups.get(g);
            double pattern = 1 + (x.index() % 3);
            raw[g] = switch (x.kind()) {
                case HEAD -> Math.pow(10, x.block()) * pattern;
                case NEURON -> 0.01 * Math.pow(10, x.block()) * pattern;
                case BLOCK -> x.block() + 1;
                case STEM -> 5 * Math.pow(10, x.block()) * pattern;
            };
        }
        double[] norm = PrunePlanner.normalise(groups, raw);
        // Blocks 0 and 2 both have three heads with the same pattern, 100x apart in raw scale: equal once normalised.
        for (int h = 0; h < 3; h++) {
            assertThat(norm[groups.indexOf(new Group(Group.Kind.HEAD, 2, h))])
                    .isCloseTo(norm[groups.indexOf(new Group(Group.Kind.HEAD, 0, h))], Offset.offset(1e-9));
        }
        assertThat(norm[groups.indexOf(new Group(Group.Kind.HEAD, 0, 2))])
                .isCloseTo(3 * norm[groups.indexOf(new Group(Group.Kind.HEAD, 0, 0))], Offset.offset(1e-9));
        // Kinds keep their own scale: every neuron stays below every head, as in the raw scores of one layer.
        double maxNeuron = 0;
        double minHead = Double.MAX_VALUE;
        for (int g = 0; g < groups.size(); g++) {
            switch (groups.get(g).kind()) {
                case NEURON -> maxNeuron = Math.max(maxNeuron, norm[g]);
                case HEAD -> minHead = Math.min(minHead, norm[g]);
                case BLOCK -> assertThat(norm[g]).isEqualTo(raw[g]);
                case STEM -> { }
            }
        }
        assertThat(maxNeuron).isLessThan(minHead);
    }

    @Test
    void badBudgetsAreRefused() {
        SaliencyScores scores = randomScores(BASE, 1);
        long before = FlopCounter.perImage(BASE);
        assertThatThrownBy(() -> PrunePlanner.plan(BASE, null, scores, Saliency.Method.TAYLOR, before))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("FLOPs target");
        assertThatThrownBy(() -> PrunePlanner.plan(BASE, null, scores, Saliency.Method.TAYLOR, 0))
                .isInstanceOf(IllegalArgumentException.class);
        // The smallest model the rules allow (one block with one head and one neuron, a channel per stem layer) is
        // about 2.5% of the base's FLOPs: 1% cannot be met, and saying so beats a silent 2.5% model.
        assertThatThrownBy(() -> PrunePlanner.plan(BASE, null, scores, Saliency.Method.TAYLOR,
                Math.round(0.01 * before)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("out of reach");
    }
}
