package io.vitstream.kafka;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * The value of key {@link Topics#CONTROL_KEY} on the compacted {@link Topics#CONTROL}: what every worker should serve.
 *
 * @param activeVersion model version for all traffic not sent to the canary
 * @param keepRatio token keep ratio in (0, 1]
 * @param canaryVersion optional version receiving {@code canaryShare} of batches
 * @param canaryShare in [0, 1]
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ControlMessage(int schema, String activeVersion, double keepRatio, String canaryVersion,
        Double canaryShare) {

    public static final int SCHEMA = 1;
    public static final JsonSerde<ControlMessage> SERDE = JsonSerde.of(ControlMessage.class);

    public static ControlMessage active(String version, double keepRatio) {
        return new ControlMessage(SCHEMA, version, keepRatio, null, null);
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
        return null;
    }
}
