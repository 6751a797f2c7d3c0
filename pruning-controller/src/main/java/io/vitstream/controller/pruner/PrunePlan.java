package io.vitstream.controller.pruner;

import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.VitConfig;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What a structured prune removes and what remains.
 *
 * @param method saliency measure the groups were ranked by
 * @param before parent architecture
 * @param after pruned architecture (residual width unchanged)
 * @param keptBlocks parent indices of the blocks that remain, in order
 * @param keptHeads per parent block, the head indices that remain (empty for a removed block)
 * @param keptNeurons per parent block, the MLP neuron indices that remain (empty for a removed block)
 * @param keptStem per stem layer, the output channel indices that remain
 * @param sparsifierAfter the parent's sparsifier with its stages moved to the new block indices, or null
 * @param removed the removed groups in the order they were chosen
 */
public record PrunePlan(Saliency.Method method, long flopsBefore, long targetFlops, long flopsAfter, VitConfig before,
        VitConfig after, List<Integer> keptBlocks, List<List<Integer>> keptHeads, List<List<Integer>> keptNeurons,
        List<List<Integer>> keptStem, SparsifierConfig sparsifierAfter, List<Removal> removed) {

    /**
     * @param saliency raw score by the plan's measure
     * @param normalised score after normalisation within its layer (what was ranked, divided by {@code flops})
     * @param flops FLOPs per image its removal saved
     */
    public record Removal(String group, double saliency, double normalised, long flops) {}

    public double flopsRatio() {
        return (double) flopsAfter / flopsBefore;
    }

    /** The plan as it goes into the new manifest (snake_case keys). */
    public Map<String, Object> toManifest() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("saliency", method.id());
        m.put("flops_before", flopsBefore);
        m.put("flops_target", targetFlops);
        m.put("flops_after", flopsAfter);
        m.put("flops_ratio", Math.round(flopsRatio() * 10000) / 10000.0);
        m.put("kept_blocks", keptBlocks);
        List<Map<String, Object>> stem = new ArrayList<>();
        for (int l = 0; l < keptStem.size(); l++) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("stem_layer", l);
            e.put("channels", keptStem.get(l).size() + "/" + before.stemWidths().get(l));
            e.put("kept_channels", keptStem.get(l));
            stem.add(e);
        }
        m.put("stem", stem);
        List<Map<String, Object>> blocks = new ArrayList<>();
        for (int b = 0; b < before.depth(); b++) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("block", b);
            e.put("kept", keptBlocks.contains(b));
            e.put("heads", keptHeads.get(b).size() + "/" + before.blocks().get(b).heads());
            e.put("kept_heads", keptHeads.get(b));
            e.put("mlp", keptNeurons.get(b).size() + "/" + before.blocks().get(b).mlpDim());
            blocks.add(e);
        }
        m.put("blocks", blocks);
        List<Map<String, Object>> r = new ArrayList<>();
        for (Removal x : removed) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("group", x.group());
            e.put("saliency", x.saliency());
            e.put("flops", x.flops());
            r.add(e);
        }
        m.put("removed", r);
        return m;
    }

    /** Human summary: one line per parent block and the FLOPs. */
    public String describe() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "plan (%s saliency): FLOPs %.2fM -> %.2fM (%.1f%%, target %.2fM), "
                + "%d groups removed%n", method.id(), flopsBefore / 1e6, flopsAfter / 1e6, 100 * flopsRatio(),
                targetFlops / 1e6, removed.size()));
        for (int l = 0; l < keptStem.size(); l++) {
            sb.append(String.format(Locale.ROOT, "  stem layer %d: channels %d/%d%n", l, keptStem.get(l).size(),
                    before.stemWidths().get(l)));
        }
        for (int b = 0; b < before.depth(); b++) {
            if (!keptBlocks.contains(b)) {
                sb.append(String.format(Locale.ROOT, "  block %d: removed%n", b));
            } else {
                sb.append(String.format(Locale.ROOT, "  block %d: heads %d/%d %s, mlp %d/%d%n", b,
                        keptHeads.get(b).size(), before.blocks().get(b).heads(), keptHeads.get(b),
                        keptNeurons.get(b).size(), before.blocks().get(b).mlpDim()));
            }
        }
        return sb.toString();
    }
}
