package io.vitstream.sparsity;

import io.vitstream.model.FlopCounter;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.VitConfig;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * How many tokens a token-merging policy merges in each block, the tokens each block's attention and MLP then see,
 * and the FLOPs per image. Merging runs inside every block that merges, after the attention residual and before the
 * MLP ({@link TokenMerging}), so block i's attention sees {@code attentionTokens[i]} tokens and its MLP
 * {@code mlpTokens[i]}, which is also what the next block's attention sees.
 *
 * <p>FLOPs: {@link FlopCounter}'s count with those token numbers, plus the matching: the similarity products, 2 FLOPs
 * per multiply-add like everything else (ToMe: (|A| - 1) x |B| x Dh per block, A without CLS; grid merge:
 * rows x (columns - 1) x Dh for a column pair, (rows - 1) x columns x Dh for a row pair). Not counted, as
 * {@link FlopCounter} does not count softmax or LayerNorm: the key normalisation, the sort, the size-weighted
 * averages (a one-hot product over the tokens merged, O(N x D)) and the log-size bias of proportional attention.
 *
 * @param method {@link KeepPolicy.Method#TOME} or {@link KeepPolicy.Method#GRID_MERGE}
 * @param merges per block: ToMe: tokens merged away (r_i); grid merge: lines merged (column or row pairs)
 * @param attentionTokens tokens (CLS included) entering each block, what its attention sees
 * @param mlpTokens tokens after each block's merge, what its MLP sees
 * @param gridRows patch-grid rows after each block's merges (grid merge; for ToMe, 0)
 * @param gridColumns patch-grid columns after each block's merges (grid merge; for ToMe, 0)
 * @param flops FLOPs per image, matching included
 */
public record MergeSchedule(KeepPolicy.Method method, int[] merges, int[] attentionTokens, int[] mlpTokens,
        int[] gridRows, int[] gridColumns, long flops) {

    public MergeSchedule {
        if (method == null || !method.merges()) {
            throw new IllegalArgumentException("a merge schedule needs a merging method, got " + method);
        }
    }

    /**
     * ToMe with a constant r per block (Bolya et al.'s schedule): block i merges r_i = min(r, ceil(n_i / 2) - 1)
     * tokens, n_i being the tokens entering it, since only the A tokens (even positions) other than CLS can merge.
     */
    public static MergeSchedule tome(VitConfig config, int r) {
        if (r < 0) {
            throw new IllegalArgumentException("tokens merged per block must be >= 0, got " + r);
        }
        int depth = config.depth();
        int[] merges = new int[depth];
        int[] in = new int[depth];
        int[] out = new int[depth];
        long matchingMacs = 0;
        int n = config.numTokens();
        for (int i = 0; i < depth; i++) {
            int candidates = (n + 1) / 2 - 1; // A = even positions, CLS excluded
            int ri = Math.min(r, candidates);
            if (ri > 0) {
                matchingMacs += (long) candidates * (n / 2) * config.blocks().get(i).headDim();
            }
            merges[i] = ri;
            in[i] = n;
            n -= ri;
            out[i] = n;
        }
        return new MergeSchedule(KeepPolicy.Method.TOME, merges, in, out, new int[depth], new int[depth],
                FlopCounter.perImage(config, in, out) + 2 * matchingMacs);
    }

    /**
     * Grid merge of {@code lines} line merges in all, spread evenly over the blocks and front-loaded: block i merges
     * ceil((i + 1) L / depth) - ceil(i L / depth). Lines alternate over the whole pass, a column pair first
     * (horizontal, HTM), then a row pair (vertical, VTM), so a square grid stays square or one column narrower.
     *
     * @param lines at most 2 x (grid side - 1), which leaves one patch token
     */
    public static MergeSchedule gridMerge(VitConfig config, int lines) {
        int side = config.gridSize();
        if (lines < 0 || lines > 2 * (side - 1)) {
            throw new IllegalArgumentException("a " + side + "x" + side + " grid merges 0 to " + 2 * (side - 1)
                    + " lines, got " + lines);
        }
        int depth = config.depth();
        int[] merges = new int[depth];
        int[] in = new int[depth];
        int[] out = new int[depth];
        int[] rows = new int[depth];
        int[] cols = new int[depth];
        long matchingMacs = 0;
        int h = side;
        int w = side;
        int done = 0;
        for (int i = 0; i < depth; i++) {
            int li = ceilDiv((i + 1) * lines, depth) - ceilDiv(i * lines, depth);
            int headDim = config.blocks().get(i).headDim();
            in[i] = 1 + h * w;
            for (int l = 0; l < li; l++, done++) {
                if (done % 2 == 0) {
                    matchingMacs += (long) h * (w - 1) * headDim;
                    w--;
                } else {
                    matchingMacs += (long) (h - 1) * w * headDim;
                    h--;
                }
            }
            merges[i] = li;
            out[i] = 1 + h * w;
            rows[i] = h;
            cols[i] = w;
        }
        return new MergeSchedule(KeepPolicy.Method.GRID_MERGE, merges, in, out, rows, cols,
                FlopCounter.perImage(config, in, out) + 2 * matchingMacs);
    }

    /**
     * The schedule a merging policy runs: dense at ratio 1.0; below it, the member of the method's family (ToMe: a
     * constant r = 0, 1, ... per block; grid merge: L = 0 .. 2 x (side - 1) lines) whose FLOPs per image come closest
     * to those of the token sparsifier at the same keep ratio on the same model (CLS-attention ranking at
     * {@code stages}, which drops ratio x the patches at each), the fewer merges on a tie. So {@code --keep-ratio R}
     * means the same compute budget for a merging and a dropping method.
     *
     * @param stages the token sparsifier's stages on this model (its own, else {@link SparsifierConfig#defaultStages})
     */
    public static MergeSchedule forPolicy(VitConfig config, List<Integer> stages, KeepPolicy policy) {
        if (!policy.method().merges()) {
            throw new IllegalArgumentException(policy.method().id() + " does not merge tokens");
        }
        boolean tome = policy.method() == KeepPolicy.Method.TOME;
        if (policy.isDense()) {
            return tome ? tome(config, 0) : gridMerge(config, 0);
        }
        long target = sparsifierFlops(config, stages, policy.keepRatio());
        int most = tome ? (config.numTokens() + 1) / 2 - 1 : 2 * (config.gridSize() - 1);
        MergeSchedule best = null;
        for (int m = 0; m <= most; m++) {
            MergeSchedule s = tome ? tome(config, m) : gridMerge(config, m);
            if (best == null || Math.abs(s.flops - target) < Math.abs(best.flops - target)) {
                best = s;
            }
        }
        return best;
    }

    /** FLOPs per image of the token sparsifier (CLS-attention ranking) at {@code ratio}: the merging budget. */
    public static long sparsifierFlops(VitConfig config, List<Integer> stages, double ratio) {
        KeepPolicy dropping = new KeepPolicy(ratio, KeepPolicy.Method.CLS_ATTENTION, false);
        return FlopCounter.perImage(config, SparseForward.tokensPerBlock(config, stages, dropping));
    }

    /** Whether block {@code i} merges anything. */
    public boolean mergesIn(int i) {
        return merges[i] > 0;
    }

    /** Tokens after the last block. */
    public int finalTokens() {
        return mlpTokens[mlpTokens.length - 1];
    }

    /** One line for people: merges per block and the tokens the blocks' MLPs see. */
    public String describe() {
        String what = method == KeepPolicy.Method.TOME ? "tokens merged per block " : "grid lines merged per block ";
        StringBuilder s = new StringBuilder(what).append(Arrays.toString(merges))
                .append(", tokens after each block's merge ").append(Arrays.toString(mlpTokens));
        if (method == KeepPolicy.Method.GRID_MERGE) {
            s.append(String.format(Locale.ROOT, " (final grid %dx%d)", gridRows[gridRows.length - 1],
                    gridColumns[gridColumns.length - 1]));
        }
        return s.toString();
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }
}
