package io.vitstream.kafka;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * The value of key {@link Topics#CONTROL_KEY} on the compacted {@link Topics#CONTROL}: what every worker should serve.
 *
 * <p>Two modes. <b>Fixed</b> (no bounds): every batch runs at {@code keepRatio}. <b>Adaptive</b> ({@code keepFloor},
 * {@code keepCeiling} and {@code sloMs} set): each worker picks every batch's keep ratio within [floor, ceiling] from
 * its own backlog and measured service times so that the waiting work meets the SLO; {@code keepRatio} is then what
 * a worker serves before it has measured anything. Floor = ceiling behaves as the fixed mode.
 *
 * @param activeVersion model version for all traffic not sent to the canary
 * @param keepRatio token keep ratio in (0, 1]: the fixed ratio, or the starting one within the bounds
 * @param canaryVersion optional version receiving {@code canaryShare} of batches
 * @param canaryShare in [0, 1]
 * @param sloMs end-to-end latency objective the workers' fast loop serves to (adaptive mode), milliseconds
 * @param keepFloor lowest keep ratio a worker may choose (adaptive mode)
 * @param keepCeiling highest keep ratio a worker may choose (adaptive mode)
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ControlMessage(int schema, String activeVersion, double keepRatio, String canaryVersion,
        Double canaryShare, Double sloMs, Double keepFloor, Double keepCeiling) {

    public static final int SCHEMA = 1;
    public static final JsonSerde<ControlMessage> SERDE = JsonSerde.of(ControlMessage.class);

    /** {@code version} for all traffic at the fixed {@code keepRatio}. */
    public static ControlMessage active(String version, double keepRatio) {
        return new ControlMessage(SCHEMA, version, keepRatio, null, null, null, null, null);
    }

    /** This message with {@code version} active and no canary; the keep settings stay. */
    public ControlMessage withActive(String version) {
        return new ControlMessage(schema, version, keepRatio, null, null, sloMs, keepFloor, keepCeiling);
    }

    /** This message with {@code version} receiving {@code share} of batches (null, null: no canary). */
    public ControlMessage withCanary(String version, Double share) {
        return new ControlMessage(schema, activeVersion, keepRatio, version, share, sloMs, keepFloor, keepCeiling);
    }

    /** This message at the fixed ratio {@code keep} (the bounds are dropped: fixed mode). */
    public ControlMessage withFixedKeep(double keep) {
        return new ControlMessage(schema, activeVersion, keep, canaryVersion, canaryShare, null, null, null);
    }

    /**
     * This message with the keep ratio {@code keep}: in adaptive mode the starting ratio, clamped into the bounds; in
     * fixed mode the fixed ratio.
     */
    public ControlMessage withKeep(double keep) {
        double k = adaptive() ? Math.max(keepFloor, Math.min(keepCeiling, keep)) : keep;
        return new ControlMessage(schema, activeVersion, k, canaryVersion, canaryShare, sloMs, keepFloor, keepCeiling);
    }

    /** This message in adaptive mode: workers choose within [floor, ceiling] to meet {@code slo}; starts at ceiling. */
    public ControlMessage withBounds(double floor, double ceiling, double slo) {
        return new ControlMessage(schema, activeVersion, ceiling, canaryVersion, canaryShare, slo, floor, ceiling);
    }

    /** Whether workers choose the keep ratio per batch (bounds and SLO set). */
    @JsonIgnore
    public boolean adaptive() {
        return keepFloor != null && keepCeiling != null && sloMs != null;
    }

    /** The lowest ratio a worker may serve: the floor when adaptive, else the fixed ratio. */
    @JsonIgnore
    public double floor() {
        return adaptive() ? keepFloor : keepRatio;
    }

    /** The highest ratio a worker may serve: the ceiling when adaptive, else the fixed ratio. */
    @JsonIgnore
    public double ceiling() {
        return adaptive() ? keepCeiling : keepRatio;
    }

    /** The first problem with this message, or null when it is usable. */
    public String problem() {
        if (activeVersion == null || activeVersion.isBlank()) {
            return "control message without active_version";
        }
        if (!(keepRatio > 0 && keepRatio <= 1)) {
            return "keep_ratio must be in (0, 1], got " + keepRatio;
        }
        if (canaryShare != null && !(canaryShare >= 0 && canaryShare <= 1)) {
            return "canary_share must be in [0, 1], got " + canaryShare;
        }
        boolean any = keepFloor != null || keepCeiling != null || sloMs != null;
        if (any && !adaptive()) {
            return "keep_floor, keep_ceiling and slo_ms go together (adaptive mode), got floor " + keepFloor
                    + ", ceiling " + keepCeiling + ", slo_ms " + sloMs;
        }
        if (adaptive()) {
            if (!(keepFloor > 0 && keepFloor <= 1)) {
                return "keep_floor must be in (0, 1], got " + keepFloor;
            }
            if (!(keepCeiling > 0 && keepCeiling <= 1)) {
                return "keep_ceiling must be in (0, 1], got " + keepCeiling;
            }
            if (keepFloor > keepCeiling) {
                return "keep_floor " + keepFloor + " is above keep_ceiling " + keepCeiling;
            }
            if (!(sloMs > 0) || sloMs.isInfinite()) {
                return "slo_ms must be positive, got " + sloMs;
            }
            if (keepRatio < keepFloor || keepRatio > keepCeiling) {
                return "keep_ratio " + keepRatio + " is outside [keep_floor " + keepFloor + ", keep_ceiling "
                        + keepCeiling + "]";
            }
        }
        return null;
    }
}
