package io.vitstream.controller.job;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * A prune job as {@code GET /status} shows it: the running one, or the last one.
 *
 * @param id job id
 * @param state {@code running}, {@code succeeded} or {@code failed}
 * @param parentVersion the version it prunes
 * @param newVersion the version it makes
 * @param flopsRatio FLOPs target as a share of the parent's
 * @param reason why it was started (the rule's reason, or the operator)
 * @param phase the job's current phase (saliency, plan, slice, fine-tune, evaluate, save)
 * @param progress share of the job done, in [0, 1]
 * @param detail the job's latest line (epoch, loss, accuracy, ETA)
 * @param error why it failed
 * @param flopsBefore parent FLOPs per image, when done
 * @param flopsAfter new model FLOPs per image, when done
 * @param validationAccuracy new model's validation accuracy, when done
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record JobStatus(String id, String state, String parentVersion, String newVersion, double flopsRatio,
        String reason, String startedAt, String finishedAt, String phase, double progress, String detail,
        String error, Long flopsBefore, Long flopsAfter, Double validationAccuracy) {

    public boolean running() {
        return "running".equals(state);
    }

    JobStatus progress(String ph, double fraction, String line) {
        return new JobStatus(id, state, parentVersion, newVersion, flopsRatio, reason, startedAt, finishedAt, ph,
                Math.max(0, Math.min(1, fraction)), line, error, flopsBefore, flopsAfter, validationAccuracy);
    }

    JobStatus finished(String st, String at, String err, Long before, Long after, Double accuracy) {
        return new JobStatus(id, st, parentVersion, newVersion, flopsRatio, reason, startedAt, at, phase,
                err == null ? 1.0 : progress, detail, err, before, after, accuracy);
    }
}
