package io.vitstream.sparsity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.model.FlopCounter;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.VitConfig;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The merge schedules say how many tokens each block sees and what that costs, and a keep ratio picks one by FLOPs. */
class MergeScheduleTest {
    // 28x28, 7x7 patches -> a 4x4 grid, 16 patches + CLS; dim 16, 4 blocks of 2 heads of 8, MLP 32.
    private static final VitConfig CONFIG = VitConfig.uniform(28, 1, 7, 0, 16, 4, 2, 32, 10);
    private static final long EMBED = 16 * 16 * 49; //                    patches * D * p*p*C
    private static final long HEAD = 16 * 10;
    private static final long ATTENTION_PER_TOKEN = 16 * 48 + 16 * 16; // qkv + proj
    private static final long MLP_PER_TOKEN = 2 * 16 * 32;

    private static long attentionMacs(long n) {
        return ATTENTION_PER_TOKEN * n + 2 * 2 * n * n * 8; //          + Q K^T and A V: 2 * H * n^2 * Dh
    }

    @Test
    void tomeWithAConstantRMergesRInEveryBlockUntilTheATokensRunOut() {
        MergeSchedule s = MergeSchedule.tome(CONFIG, 3);
        assertThat(s.merges()).containsExactly(3, 3, 3, 3);
        assertThat(s.attentionTokens()).containsExactly(17, 14, 11, 8);
        assertThat(s.mlpTokens()).containsExactly(14, 11, 8, 5);
        // Matching: (|A| - 1) x |B| x Dh per block, |A| = ceil(n / 2) with CLS, |B| = floor(n / 2).
        long matching = 8 * 8 * 8 + 6 * 7 * 8 + 5 * 5 * 8 + 3 * 4 * 8;
        long blocks = attentionMacs(17) + attentionMacs(14) + attentionMacs(11) + attentionMacs(8)
                + MLP_PER_TOKEN * (14 + 11 + 8 + 5);
        assertThat(s.flops()).isEqualTo(2 * (EMBED + blocks + HEAD + matching));

        // r is capped at the A tokens left (ceil(n / 2) - 1): 17 -> 9 -> 5 -> 3 -> 2.
        MergeSchedule most = MergeSchedule.tome(CONFIG, 8);
        assertThat(most.merges()).containsExactly(8, 4, 2, 1);
        assertThat(most.mlpTokens()).containsExactly(9, 5, 3, 2);
        // r = 0 is the dense model.
        assertThat(MergeSchedule.tome(CONFIG, 0).flops()).isEqualTo(FlopCounter.perImage(CONFIG));
    }

    @Test
    void gridMergeSpreadsItsLinesOverTheBlocksAlternatingColumnsAndRows() {
        MergeSchedule s = MergeSchedule.gridMerge(CONFIG, 3);
        // ceil((i + 1) 3 / 4) - ceil(i 3 / 4): 1, 1, 1, 0; a column pair, a row pair, a column pair.
        assertThat(s.merges()).containsExactly(1, 1, 1, 0);
        assertThat(s.gridRows()).containsExactly(4, 3, 3, 3);
        assertThat(s.gridColumns()).containsExactly(3, 3, 2, 2);
        assertThat(s.attentionTokens()).containsExactly(17, 13, 10, 7);
        assertThat(s.mlpTokens()).containsExactly(13, 10, 7, 7);
        // Matching: rows x (cols - 1) x Dh for a column step, (rows - 1) x cols x Dh for a row step.
        long matching = 4 * 3 * 8 + 3 * 3 * 8 + 3 * 2 * 8;
        long blocks = attentionMacs(17) + attentionMacs(13) + attentionMacs(10) + attentionMacs(7)
                + MLP_PER_TOKEN * (13 + 10 + 7 + 7);
        assertThat(s.flops()).isEqualTo(2 * (EMBED + blocks + HEAD + matching));

        MergeSchedule all = MergeSchedule.gridMerge(CONFIG, 6); // to a single patch token
        assertThat(all.merges()).containsExactly(2, 1, 2, 1);
        assertThat(all.mlpTokens()).containsExactly(10, 7, 3, 2);
        assertThatThrownBy(() -> MergeSchedule.gridMerge(CONFIG, 7))
                .hasMessage("a 4x4 grid merges 0 to 6 lines, got 7");
    }

    @Test
    void aKeepRatioPicksTheScheduleWhoseFlopsComeClosestToDroppingAtThatRatio() {
        List<Integer> stages = SparsifierConfig.defaultStages(CONFIG.depth());
        for (double ratio : new double[] {0.9, 0.7, 0.5, 0.3}) {
            long target = MergeSchedule.sparsifierFlops(CONFIG, stages, ratio);
            assertThat(target).isEqualTo(SparseForward.flopsPerImage(CONFIG, SparsifierConfig.attentionOnly(4),
                    new KeepPolicy(ratio, KeepPolicy.Method.CLS_ATTENTION, false)));
            MergeSchedule tome = MergeSchedule.forPolicy(CONFIG, stages, new KeepPolicy(ratio, KeepPolicy.Method.TOME,
                    false));
            for (int r = 0; r <= 8; r++) {
                assertThat(Math.abs(tome.flops() - target)).as("ratio %s, r %d", ratio, r)
                        .isLessThanOrEqualTo(Math.abs(MergeSchedule.tome(CONFIG, r).flops() - target));
            }
            assertThat(tome.merges()[0]).as("ratio %s merges", ratio).isPositive();
            KeepPolicy gridPolicy = new KeepPolicy(ratio, KeepPolicy.Method.GRID_MERGE, false);
            MergeSchedule grid = MergeSchedule.forPolicy(CONFIG, stages, gridPolicy);
            for (int lines = 0; lines <= 6; lines++) {
                assertThat(Math.abs(grid.flops() - target)).as("ratio %s, %d lines", ratio, lines)
                        .isLessThanOrEqualTo(Math.abs(MergeSchedule.gridMerge(CONFIG, lines).flops() - target));
            }
            // What evaluation, benchmarks and the worker report is the schedule's.
            SparsifierConfig own = SparseForward.stagesFor(CONFIG, null, gridPolicy);
            assertThat(SparseForward.flopsPerImage(CONFIG, own, gridPolicy)).isEqualTo(grid.flops());
            assertThat(SparseForward.tokensPerBlock(CONFIG, own.stages(), gridPolicy))
                    .containsExactly(grid.attentionTokens());
        }
        // Lower ratios, smaller budgets: more merging.
        List<Integer> r = new java.util.ArrayList<>();
        for (double ratio : new double[] {0.9, 0.7, 0.5}) {
            r.add(MergeSchedule.forPolicy(CONFIG, stages, new KeepPolicy(ratio, KeepPolicy.Method.TOME, false))
                    .merges()[0]);
        }
        assertThat(r).isSorted().doesNotHaveDuplicates();
        // Ratio 1.0 merges nothing.
        assertThat(MergeSchedule.forPolicy(CONFIG, stages, new KeepPolicy(1.0, KeepPolicy.Method.TOME, false))
                .flops()).isEqualTo(FlopCounter.perImage(CONFIG));
    }
}
