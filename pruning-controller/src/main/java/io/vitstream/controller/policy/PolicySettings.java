package io.vitstream.controller.policy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vitstream.util.Json;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Every threshold, window, step, floor and cool-down of the policy (JSON snake_case, {@code GET|PUT /policy}).
 * Durations are seconds, latencies milliseconds. The policy evaluates once per {@code window_s}: "a window" is one
 * evaluation of the metrics of the last {@code window_s} seconds.
 *
 * @param enabled false: the controller only observes (the rules take no action; operator actions still work)
 * @param sloMs p95 end-to-end latency objective, milliseconds (in adaptive mode also written on vit.control, where
 *     the workers' fast loop serves to it)
 * @param keepMode {@code adaptive} (default): the workers choose each batch's keep ratio within [{@code keep_floor},
 *     {@code keep_ceiling}] to meet the SLO and the rules move the floor; {@code fixed}: one ratio, stepped by rules 1
 *     and 4 (an operator's {@code POST /keep-ratio} switches to it)
 * @param windowS length of the metrics window and interval between evaluations, seconds
 * @param minPredictions fewer predictions of the active version in a window: no latency verdict
 * @param breachWindows consecutive windows with p95 above the SLO (adaptive: and the workers at the floor) before
 *     rule 1 (or 2) acts
 * @param keepStep keep-ratio step of rules 1, 3 and 4 (adaptive: the step by which rule 3 raises the floor)
 * @param keepFloor rule 1 never lowers the keep ratio below this; adaptive: the lowest ratio a worker may choose
 *     (rule 3 may raise the floor on vit.control above it, never lower it below)
 * @param keepCeiling adaptive: the highest ratio a worker may choose
 * @param keepCooldownS at least this long between two keep-ratio changes by the rules (either direction)
 * @param headroomFraction p95 below {@code headroomFraction x slo} counts as headroom (rule 4)
 * @param headroomWindows consecutive headroom windows before rule 4 raises the keep ratio
 * @param atFloorShare adaptive: a window counts as "at the floor" for rule 2 when the live workers served at least
 *     this share of their recent batches at the floor (or the floor equals the ceiling)
 * @param accuracyFloor labelled accuracy of the active version below this triggers rule 3
 * @param agreementFloor dense-teacher agreement below this triggers rule 3 when a window has too few labels
 * @param minLabelled labelled (or teacher-scored) predictions a window needs before accuracy (agreement) counts
 * @param repruneEnabled false: rule 2 never starts a prune job
 * @param pruneSafety the re-prune FLOPs target is {@code pruneSafety x capacity at the floor / arrival} of the
 *     active model's FLOPs when the workers measure both and the arrival exceeds the capacity, else
 *     {@code pruneSafety x slo / p95} ...
 * @param pruneMinFlopsRatio ... but never below this ...
 * @param pruneMaxFlopsRatio ... nor above this
 * @param pruneCooldownS at least this long between two re-prunes started by rule 2
 * @param rollbackCooldownS at least this long between two rollbacks to a parent by rule 3
 * @param canaryShare share of batches a new version serves while it is compared (rule 5), in (0, 0.5]
 * @param canarySamples labelled predictions of the canary (and of the active version, since the canary loaded)
 *     before they are compared
 * @param canaryMargin the canary is promoted when its accuracy is at least the active's minus this margin
 * @param canaryLoadTimeoutS every live worker must report the canary loaded within this time, or the rollout fails
 * @param canaryCompareTimeoutS not enough labelled canary predictions within this time: rolled back
 */
public record PolicySettings(
        boolean enabled,
        double sloMs,
        KeepMode keepMode,
        double windowS,
        int minPredictions,
        int breachWindows,
        double keepStep,
        double keepFloor,
        double keepCeiling,
        double keepCooldownS,
        double headroomFraction,
        int headroomWindows,
        double atFloorShare,
        double accuracyFloor,
        double agreementFloor,
        int minLabelled,
        boolean repruneEnabled,
        double pruneSafety,
        double pruneMinFlopsRatio,
        double pruneMaxFlopsRatio,
        double pruneCooldownS,
        double rollbackCooldownS,
        double canaryShare,
        int canarySamples,
        double canaryMargin,
        double canaryLoadTimeoutS,
        double canaryCompareTimeoutS) {

    public static PolicySettings defaults() {
        return new PolicySettings(true, 250, KeepMode.ADAPTIVE, 10, 20, 3, 0.1, 0.5, 1.0, 30, 0.6, 6, 0.5, 0.8, 0.9,
                50, true, 0.9, 0.3, 0.9, 900, 300, 0.25, 200, 0.02, 120, 600);
    }

    /** Every problem with these settings, each naming its field; empty when valid. */
    public List<String> problems() {
        List<String> p = new ArrayList<>();
        positive(p, "slo_ms", sloMs);
        if (keepMode == null) {
            p.add("keep_mode must be adaptive or fixed");
        }
        positive(p, "window_s", windowS);
        atLeast(p, "min_predictions", minPredictions, 1);
        atLeast(p, "breach_windows", breachWindows, 1);
        within(p, "keep_step", keepStep, 0, 1, false);
        boolean floorOk = within(p, "keep_floor", keepFloor, 0, 1, false);
        boolean ceilingOk = within(p, "keep_ceiling", keepCeiling, 0, 1, false);
        if (floorOk && ceilingOk && keepFloor > keepCeiling) {
            p.add("keep_floor (" + keepFloor + ") must not exceed keep_ceiling (" + keepCeiling + ")");
        }
        nonNegative(p, "keep_cooldown_s", keepCooldownS);
        within(p, "headroom_fraction", headroomFraction, 0, 1, true);
        atLeast(p, "headroom_windows", headroomWindows, 1);
        within(p, "at_floor_share", atFloorShare, 0, 1, false);
        within(p, "accuracy_floor", accuracyFloor, 0, 1, true);
        within(p, "agreement_floor", agreementFloor, 0, 1, true);
        atLeast(p, "min_labelled", minLabelled, 1);
        within(p, "prune_safety", pruneSafety, 0, 1, false);
        within(p, "prune_min_flops_ratio", pruneMinFlopsRatio, 0, 1, true);
        within(p, "prune_max_flops_ratio", pruneMaxFlopsRatio, 0, 1, true);
        if (pruneMinFlopsRatio > pruneMaxFlopsRatio) {
            p.add("prune_min_flops_ratio (" + pruneMinFlopsRatio + ") must not exceed prune_max_flops_ratio ("
                    + pruneMaxFlopsRatio + ")");
        }
        nonNegative(p, "prune_cooldown_s", pruneCooldownS);
        nonNegative(p, "rollback_cooldown_s", rollbackCooldownS);
        if (!(canaryShare > 0 && canaryShare <= 0.5)) {
            p.add("canary_share must be in (0, 0.5] (the active version must keep at least as much labelled traffic"
                    + " as the canary to be compared with it), got " + canaryShare);
        }
        atLeast(p, "canary_samples", canarySamples, 1);
        within(p, "canary_margin", canaryMargin, 0, 1, true);
        positive(p, "canary_load_timeout_s", canaryLoadTimeoutS);
        positive(p, "canary_compare_timeout_s", canaryCompareTimeoutS);
        return p;
    }

    /** These settings, or {@link IllegalArgumentException} naming every invalid field. */
    public PolicySettings validated() {
        List<String> p = problems();
        if (!p.isEmpty()) {
            throw new IllegalArgumentException("invalid policy: " + String.join("; ", p));
        }
        return this;
    }

    /**
     * These settings with the fields present in {@code patch} (a JSON object, snake_case) replaced, validated.
     * Unknown fields and wrongly typed values are errors, each named.
     */
    public PolicySettings merge(JsonNode patch) {
        if (patch == null || !patch.isObject()) {
            throw new IllegalArgumentException("policy must be a JSON object of settings (snake_case), e.g. "
                    + "{\"slo_ms\": 200}");
        }
        ObjectNode node = Json.MAPPER.valueToTree(this);
        List<String> p = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = patch.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode current = node.get(e.getKey());
            JsonNode v = e.getValue();
            if (current == null) {
                p.add("unknown policy setting " + e.getKey());
            } else if (current.isBoolean() && !v.isBoolean()) {
                p.add(e.getKey() + " must be true or false, got " + v);
            } else if (current.isIntegralNumber() && !(v.isIntegralNumber()
                    || v.isNumber() && v.asDouble() == Math.rint(v.asDouble()))) {
                p.add(e.getKey() + " must be an integer, got " + v);
            } else if (current.isNumber() && !v.isNumber()) {
                p.add(e.getKey() + " must be a number, got " + v);
            } else if (current.isTextual() && !v.isTextual()) {
                p.add(e.getKey() + " must be a string, got " + v);
            } else if (e.getKey().equals("keep_mode") && !validMode(v.asText(), p)) {
                continue;
            } else {
                node.set(e.getKey(), current.isIntegralNumber() ? node.numberNode(v.asLong()) : v);
            }
        }
        if (!p.isEmpty()) {
            throw new IllegalArgumentException("invalid policy: " + String.join("; ", p));
        }
        try {
            return Json.MAPPER.treeToValue(node, PolicySettings.class).validated();
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException("invalid policy: " + e.getOriginalMessage(), e);
        }
    }

    private static boolean validMode(String id, List<String> p) {
        try {
            KeepMode.parse(id);
            return true;
        } catch (IllegalArgumentException e) {
            p.add(e.getMessage());
            return false;
        }
    }

    /**
     * Settings stored by a controller, possibly an older or newer one: its known fields over the defaults (a setting
     * added since takes its default; one it no longer has is dropped), validated.
     */
    public static PolicySettings restore(JsonNode stored) {
        PolicySettings d = defaults();
        if (stored == null || !stored.isObject()) {
            return d;
        }
        ObjectNode known = Json.MAPPER.createObjectNode();
        JsonNode fields = Json.MAPPER.valueToTree(d);
        stored.fields().forEachRemaining(e -> {
            if (fields.has(e.getKey())) {
                known.set(e.getKey(), e.getValue());
            }
        });
        return d.merge(known);
    }

    /**
     * These settings with configuration-style overrides: {@code policy.slo.ms=200} sets {@code slo_ms} (dots for
     * underscores after the {@code policy.} prefix). Values are parsed as JSON scalars.
     */
    public PolicySettings withSettings(Map<String, String> dotted) {
        ObjectNode patch = Json.MAPPER.createObjectNode();
        dotted.forEach((k, v) -> {
            String field = k.replace('.', '_').toLowerCase(Locale.ROOT);
            String s = v.trim();
            if (s.equalsIgnoreCase("true") || s.equalsIgnoreCase("false")) {
                patch.put(field, Boolean.parseBoolean(s.toLowerCase(Locale.ROOT)));
            } else {
                try {
                    patch.put(field, new java.math.BigDecimal(s.replace("_", "")));
                } catch (NumberFormatException e) {
                    patch.put(field, s);
                }
            }
        });
        return merge(patch);
    }

    private static void positive(List<String> p, String name, double v) {
        if (!(v > 0) || Double.isInfinite(v)) {
            p.add(name + " must be > 0, got " + v);
        }
    }

    private static void nonNegative(List<String> p, String name, double v) {
        if (!(v >= 0) || Double.isInfinite(v)) {
            p.add(name + " must be >= 0, got " + v);
        }
    }

    private static void atLeast(List<String> p, String name, long v, long min) {
        if (v < min) {
            p.add(name + " must be >= " + min + ", got " + v);
        }
    }

    /** Adds a problem unless {@code v} is in the range; returns whether it is. */
    private static boolean within(List<String> p, String name, double v, double lo, double hi, boolean loInclusive) {
        boolean ok = (loInclusive ? v >= lo : v > lo) && v <= hi;
        if (!ok) {
            p.add(name + " must be in " + (loInclusive ? "[" : "(") + lo + ", " + hi + "], got " + v);
        }
        return ok;
    }
}
