package io.vitstream.controller.pruner;

import io.vitstream.model.BlockConfig;
import io.vitstream.model.FlopCounter;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.VitConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Ranks every group globally against a FLOPs budget and removes the cheapest-to-lose first; the layer-wise
 * thresholds (how much of each block goes) fall out of the one ranking, as in X-Pruner.
 *
 * <p>Normalisation within a layer: a layer is one block's heads, one block's MLP neurons, or one stem convolution's
 * output channels; each score is divided by
 * its layer's mean score and multiplied by the mean over all layers of that kind. That removes the scale differences
 * between layers (later blocks have larger activations and gradients) while heads and neurons keep their own, loss
 * unit, scales so that they stay comparable. Blocks form a single layer, so their scores are left as they are.
 *
 * <p>Ranking: normalised saliency per FLOP, ascending (a knapsack's greedy order: least loss per FLOP saved first).
 * Removal stops as soon as the model is at or under the budget, so it overshoots by less than one group's FLOPs.
 * Constraints: a block keeps at least one head and one neuron (a block goes only whole, as a block group), a stem
 * layer at least one channel; at least
 * one block remains; a block is not removed when that would merge or drop a token-sparsification stage, or when it
 * saves more than twice the FLOPs still to remove (it would land far under the budget; finer groups follow instead).
 *
 * <p>CAP ranks differently ({@link #capKeys}): its scores are one layer's output error, which says which units of a
 * layer to remove but not how much of each layer the loss can spare, so OBD's ranking sets each layer's share and CAP
 * picks the units within it.
 */
public final class PrunePlanner {
    private PrunePlanner() {}

    /**
     * @param sparsifier the parent's sparsifier (stages to keep valid), or null
     * @param targetFlops budget in FLOPs per image (dense), below the parent's
     */
    public static PrunePlan plan(VitConfig config, SparsifierConfig sparsifier, SaliencyScores scores,
            Saliency.Method method, long targetFlops) {
        long before = FlopCounter.perImage(config);
        if (targetFlops <= 0 || targetFlops >= before) {
            throw new IllegalArgumentException("FLOPs target " + targetFlops + " must be in (0, " + before + ")");
        }
        List<Group> groups = scores.groups();
        double[] raw = scores.of(method);
        double[] norm = method == Saliency.Method.CAP ? capKeys(groups, raw, scores.obd())
                : method.searchesMasks() ? raw : normalise(groups, raw);
        long[] cost = new long[groups.size()];
        Integer[] order = new Integer[groups.size()];
        for (int g = 0; g < groups.size(); g++) {
            cost[g] = groups.get(g).flops(config);
            order[g] = g;
        }
        if (method.searchesMasks()) {
            order = thresholdOrder(groups, raw);
        } else {
            Arrays.sort(order, Comparator.<Integer>comparingDouble(g -> norm[g] / cost[g])
                    .thenComparing(g -> groups.get(g).id()));
        }

        int depth = config.depth();
        boolean[] blockKept = new boolean[depth];
        boolean[][] headKept = new boolean[depth][];
        boolean[][] neuronKept = new boolean[depth][];
        int[] heads = new int[depth];
        int[] neurons = new int[depth];
        for (int b = 0; b < depth; b++) {
            BlockConfig bc = config.blocks().get(b);
            blockKept[b] = true;
            headKept[b] = filled(bc.heads());
            neuronKept[b] = filled(bc.mlpDim());
            heads[b] = bc.heads();
            neurons[b] = bc.mlpDim();
        }
        int layers = config.stemLayers();
        boolean[][] stemKept = new boolean[layers][];
        int[] stem = new int[layers];
        for (int l = 0; l < layers; l++) {
            stemKept[l] = filled(config.stemWidths().get(l));
            stem[l] = config.stemWidths().get(l);
        }
        int blocksLeft = depth;
        long flops = before;
        List<PrunePlan.Removal> removed = new ArrayList<>();
        for (int g : order) {
            if (flops <= targetFlops) {
                break;
            }
            Group group = groups.get(g);
            int b = group.block();
            if (group.kind() != Group.Kind.STEM && !blockKept[b]) {
                continue;
            }
            switch (group.kind()) {
                case STEM -> {
                    if (stem[b] == 1) {
                        continue;
                    }
                    stemKept[b][group.index()] = false;
                    stem[b]--;
                }
                case HEAD -> {
                    if (heads[b] == 1) {
                        continue;
                    }
                    headKept[b][group.index()] = false;
                    heads[b]--;
                }
                case NEURON -> {
                    if (neurons[b] == 1) {
                        continue;
                    }
                    neuronKept[b][group.index()] = false;
                    neurons[b]--;
                }
                case BLOCK -> {
                    long saves = 2 * FlopCounter.blockMacs(config.dim(),
                            new BlockConfig(heads[b], config.blocks().get(b).headDim(), neurons[b]), config.numTokens());
                    // A whole block that would take the model far under the budget waits for finer groups.
                    if (blocksLeft == 1 || saves > 2 * (flops - targetFlops)) {
                        continue;
                    }
                    blockKept[b] = false;
                    if (sparsifier != null && remapStages(sparsifier, blockKept) == null) {
                        blockKept[b] = true;
                        continue;
                    }
                    blocksLeft--;
                }
            }
            long now = FlopCounter.perImage(build(config, stem, blockKept, heads, neurons));
            removed.add(new PrunePlan.Removal(group.id(), raw[g], norm[g], flops - now));
            flops = now;
        }
        if (flops > targetFlops) {
            throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
                    "FLOPs target %.2fM (%.0f%% of %.2fM) is out of reach: the smallest model this plan can make "
                            + "keeps %.2fM (the embedding, a head and a neuron per block, the blocks the token-"
                            + "sparsification stages need)", targetFlops / 1e6, 100.0 * targetFlops / before,
                    before / 1e6, flops / 1e6));
        }
        VitConfig after = build(config, stem, blockKept, heads, neurons);
        List<List<Integer>> keptStem = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            keptStem.add(indices(stemKept[l]));
        }
        List<Integer> keptBlocks = new ArrayList<>();
        List<List<Integer>> keptHeads = new ArrayList<>();
        List<List<Integer>> keptNeurons = new ArrayList<>();
        for (int b = 0; b < depth; b++) {
            if (blockKept[b]) {
                keptBlocks.add(b);
            }
            keptHeads.add(blockKept[b] ? indices(headKept[b]) : List.of());
            keptNeurons.add(blockKept[b] ? indices(neuronKept[b]) : List.of());
        }
        SparsifierConfig sparsifierAfter = null;
        if (sparsifier != null) {
            sparsifierAfter = new SparsifierConfig(remapStages(sparsifier, blockKept), sparsifier.predictorHidden(),
                    sparsifier.minRatio(), sparsifier.maxRatio());
        }
        return new PrunePlan(method, before, targetFlops, FlopCounter.perImage(after), config, after,
                List.copyOf(keptBlocks), List.copyOf(keptHeads), List.copyOf(keptNeurons), List.copyOf(keptStem),
                sparsifierAfter,
                List.copyOf(removed));
    }

    /**
     * The removal order of a mask method (ViT-Slim, X-Pruner): one global threshold per mask type (heads, neurons),
     * both at one shared fraction f of their type's sorted scores. A unit falls under the thresholds once f passes its
     * quantile within its type, (rank + 1) / count; walking the units in that order and stopping at the budget gives
     * the smallest f whose thresholds meet it (what bisecting f converges to), overshooting by less than one group.
     * Blocks and stem channels have no mask and are never removed. A block's last head or neuron stays (the walk
     * skips it), as in every plan.
     */
    static Integer[] thresholdOrder(List<Group> groups, double[] scores) {
        List<Integer> heads = new ArrayList<>();
        List<Integer> neurons = new ArrayList<>();
        for (int g = 0; g < groups.size(); g++) {
            Group.Kind k = groups.get(g).kind();
            if (k == Group.Kind.HEAD) {
                heads.add(g);
            } else if (k == Group.Kind.NEURON) {
                neurons.add(g);
            }
        }
        double[] quantile = new double[groups.size()];
        for (List<Integer> type : List.of(heads, neurons)) {
            type.sort(Comparator.<Integer>comparingDouble(g -> scores[g]).thenComparing(g -> g));
            for (int r = 0; r < type.size(); r++) {
                quantile[type.get(r)] = (r + 1.0) / type.size();
            }
        }
        List<Integer> order = new ArrayList<>(heads);
        order.addAll(neurons);
        order.sort(Comparator.<Integer>comparingDouble(g -> quantile[g]).thenComparingDouble(g -> scores[g])
                .thenComparing(g -> g));
        return order.toArray(new Integer[0]);
    }

    /**
     * CAP's ranking keys: within each layer of heads or neurons, the unit CAP would remove k-th (k-th lowest CAP score)
     * gets the layer's k-th lowest normalised OBD score; other groups keep their normalised OBD score. Each layer's
     * keys are then OBD's, so the global ranking removes as many units from each layer as it would under OBD, and
     * always a prefix of CAP's order: OBD's loss-unit scores allocate the budget, CAP's OBS order spends it. (CAP's own
     * costs ranked globally, measured on models/sparse at half its FLOPs, cost 4 points of accuracy against this.)
     */
    static double[] capKeys(List<Group> groups, double[] cap, double[] obd) {
        double[] obdNorm = normalise(groups, obd);
        double[] out = obdNorm.clone();
        java.util.Map<String, List<Integer>> layers = new java.util.LinkedHashMap<>();
        for (int g = 0; g < groups.size(); g++) {
            Group x = groups.get(g);
            if (x.kind() == Group.Kind.HEAD || x.kind() == Group.Kind.NEURON) {
                layers.computeIfAbsent(x.kind() + "/" + x.block(), k -> new ArrayList<>()).add(g);
            }
        }
        for (List<Integer> layer : layers.values()) {
            List<Integer> byCap = new ArrayList<>(layer);
            byCap.sort(Comparator.<Integer>comparingDouble(g -> cap[g]).thenComparing(g -> g));
            // Strictly rising (by a negligible 1e-9 of the largest), so that ties cannot reorder CAP's prefix.
            double[] sortedObd = CapPruner.nonDecreasing(layer.stream().mapToDouble(g -> obdNorm[g]).sorted().toArray());
            for (int k = 0; k < byCap.size(); k++) {
                out[byCap.get(k)] = sortedObd[k];
            }
        }
        return out;
    }

    /** Scores divided by their layer's mean, times their kind's mean over all layers (see the class comment). */
    static double[] normalise(List<Group> groups, double[] raw) {
        int depth = groups.stream().mapToInt(Group::block).max().orElse(-1) + 1;
        double[][] layerSum = new double[Group.Kind.values().length][depth];
        int[][] layerCount = new int[Group.Kind.values().length][depth];
        double[] kindSum = new double[Group.Kind.values().length];
        int[] kindCount = new int[Group.Kind.values().length];
        for (int g = 0; g < groups.size(); g++) {
            Group x = groups.get(g);
            layerSum[x.kind().ordinal()][x.block()] += raw[g];
            layerCount[x.kind().ordinal()][x.block()]++;
            kindSum[x.kind().ordinal()] += raw[g];
            kindCount[x.kind().ordinal()]++;
        }
        double[] out = new double[raw.length];
        for (int g = 0; g < groups.size(); g++) {
            Group x = groups.get(g);
            int k = x.kind().ordinal();
            double layerMean = layerSum[k][x.block()] / layerCount[k][x.block()];
            double kindMean = kindSum[k] / kindCount[k];
            out[g] = x.kind() == Group.Kind.BLOCK || layerMean <= 0 ? raw[g] : raw[g] / layerMean * kindMean;
        }
        return out;
    }

    /**
     * The stages moved to the new block indices (a stage before a removed block moves to the next remaining one), or
     * null when two stages would merge or one would fall outside [1, depth).
     */
    static List<Integer> remapStages(SparsifierConfig sparsifier, boolean[] blockKept) {
        int newDepth = 0;
        for (boolean k : blockKept) {
            newDepth += k ? 1 : 0;
        }
        List<Integer> out = new ArrayList<>();
        for (int stage : sparsifier.stages()) {
            int idx = 0;
            for (int b = 0; b < stage; b++) {
                idx += blockKept[b] ? 1 : 0;
            }
            if (idx < 1 || idx >= newDepth || (!out.isEmpty() && out.get(out.size() - 1) >= idx)) {
                return null;
            }
            out.add(idx);
        }
        return out;
    }

    private static VitConfig build(VitConfig c, int[] stem, boolean[] blockKept, int[] heads, int[] neurons) {
        List<BlockConfig> blocks = new ArrayList<>();
        for (int b = 0; b < c.depth(); b++) {
            if (blockKept[b]) {
                blocks.add(new BlockConfig(heads[b], c.blocks().get(b).headDim(), neurons[b]));
            }
        }
        return c.withShape(Arrays.stream(stem).boxed().toList(), blocks);
    }

    private static boolean[] filled(int n) {
        boolean[] a = new boolean[n];
        Arrays.fill(a, true);
        return a;
    }

    private static List<Integer> indices(boolean[] kept) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < kept.length; i++) {
            if (kept[i]) {
                out.add(i);
            }
        }
        return List.copyOf(out);
    }
}
