package io.vitstream.controller.rollout;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * The current or last rollout, as served by {@code GET /status} and kept durable in the controller's state topic.
 *
 * @param phase where it stands
 * @param version the canary version
 * @param activeVersion the version it is compared with (active when the rollout began)
 * @param share the canary's share of batches
 * @param startedAt when the canary was set in vit.control (ISO-8601)
 * @param loadedAt when every live worker reported it loaded: the comparison counts from here
 * @param finishedAt when it was promoted, rolled back or failed
 * @param reason why it began, and when finished why it ended that way
 * @param pendingWorkers while loading: live workers that have not reported the canary loaded yet
 * @param canaryLabelled labelled predictions of the canary since {@code loadedAt} (and {@code canaryCorrect} right)
 * @param activeLabelled the same for the active version
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record RolloutState(RolloutPhase phase, String version, String activeVersion, Double share, String startedAt,
        String loadedAt, String finishedAt, String reason, List<String> pendingWorkers, Long canaryLabelled,
        Long canaryCorrect, Long activeLabelled, Long activeCorrect) {

    public static final RolloutState IDLE = new RolloutState(RolloutPhase.IDLE, null, null, null, null, null, null,
            null, null, null, null, null, null);

    RolloutState phase(RolloutPhase p, String at, String why) {
        return new RolloutState(p, version, activeVersion, share, startedAt, loadedAt, at, why, null, canaryLabelled,
                canaryCorrect, activeLabelled, activeCorrect);
    }

    RolloutState loaded(String at) {
        return new RolloutState(RolloutPhase.COMPARING, version, activeVersion, share, startedAt, at, null, reason,
                null, 0L, 0L, 0L, 0L);
    }

    RolloutState pending(List<String> workers) {
        return new RolloutState(phase, version, activeVersion, share, startedAt, loadedAt, finishedAt, reason,
                List.copyOf(workers), canaryLabelled, canaryCorrect, activeLabelled, activeCorrect);
    }

    RolloutState counts(long cl, long cc, long al, long ac) {
        return new RolloutState(phase, version, activeVersion, share, startedAt, loadedAt, finishedAt, reason,
                pendingWorkers, cl, cc, al, ac);
    }
}
