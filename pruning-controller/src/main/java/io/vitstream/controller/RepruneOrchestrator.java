package io.vitstream.controller;

import io.vitstream.controller.error.ControllerException;
import io.vitstream.controller.job.JobManager;
import io.vitstream.controller.job.JobStatus;
import io.vitstream.controller.policy.Action;
import io.vitstream.controller.policy.Decision;
import io.vitstream.controller.policy.DecisionLog;
import io.vitstream.controller.policy.PolicySettings;
import io.vitstream.controller.policy.Rule;
import io.vitstream.controller.pruner.PruneRequest;
import io.vitstream.controller.pruner.PruneResult;
import io.vitstream.controller.rollout.Rollout;
import io.vitstream.controller.state.ClusterView;
import io.vitstream.controller.state.ModelRepository;
import io.vitstream.kafka.Topics;
import io.vitstream.util.FileTrees;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.concurrent.Executor;
import java.util.function.BiConsumer;
import java.util.function.Supplier;

/**
 * A re-prune from start to rollout: names the new version, fetches the parent from vit.models, runs the job (one at a
 * time, {@link JobManager}), and when it ends, on the loop, checks the result against the accuracy floor, publishes
 * it and hands it to the {@link Rollout} as a canary. Every end is a decision of rule 2 whoever asked; its reason says
 * who.
 */
final class RepruneOrchestrator {
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss")
            .withZone(ZoneOffset.UTC);

    private final JobManager jobs;
    private final ModelRepository models;
    private final ClusterView cluster;
    private final Rollout rollout;
    private final DecisionLog decisions;
    private final VersionNotes notes;
    private final Supplier<PolicySettings> settings;
    private final ControllerConfig config;
    private final Executor loop;
    private final BiConsumer<String, Duration> finished;
    private final Clock clock;

    /**
     * @param loop where a job's end is carried out (the controller's loop thread)
     * @param finished told each job's outcome ({@code succeeded}, {@code failed}) and duration (the job timer)
     */
    RepruneOrchestrator(JobManager jobs, ModelRepository models, ClusterView cluster, Rollout rollout,
            DecisionLog decisions, VersionNotes notes, Supplier<PolicySettings> settings, ControllerConfig config,
            Executor loop, BiConsumer<String, Duration> finished, Clock clock) {
        this.jobs = jobs;
        this.models = models;
        this.cluster = cluster;
        this.rollout = rollout;
        this.decisions = decisions;
        this.notes = notes;
        this.settings = settings;
        this.config = config;
        this.loop = loop;
        this.finished = finished;
        this.clock = clock;
    }

    /**
     * Starts a re-prune of {@code parent} to {@code ratio} of its FLOPs.
     *
     * @throws ControllerException nothing could be published, the parent is not on vit.models, or a job runs
     */
    JobStatus start(String parent, double ratio, String reason) {
        String cannot = models.cannotPublish();
        if (cannot != null) {
            throw ControllerException.conflict(cannot);
        }
        if (!cluster.versions().containsKey(parent)) {
            throw ControllerException.conflict(parent + " is not published on " + Topics.MODELS
                    + ", so it cannot be fetched to prune");
        }
        String newVersion = newVersionName(parent, ratio);
        Path parentDir = config.workDir().resolve("models").resolve(parent);
        Path outDir = config.workDir().resolve("models").resolve(newVersion);
        return jobs.start(parent, newVersion, ratio, reason, () -> {
            models.fetch(parent, parentDir);
            FileTrees.delete(outDir);
            return new PruneRequest(parentDir, outDir, newVersion, ratio, config.saliency(), config.prune());
        }, (manager, f) -> loop.execute(() -> jobDone(f)));
    }

    /** {@code <parent without its own -pNN-stamp>-p<ratio%>-<UTC stamp>}, made unique. */
    String newVersionName(String parent, double ratio) {
        String base = parent.replaceFirst("-p\\d+-\\d{8}T\\d{6}(-\\d+)?$", "");
        String name = base + "-p" + Math.round(ratio * 100) + "-" + STAMP.format(clock.instant());
        String candidate = name;
        for (int i = 2; cluster.versions().containsKey(candidate) || Files.exists(config.workDir().resolve("models")
                .resolve(candidate)); i++) {
            candidate = name + "-" + i;
        }
        return candidate;
    }

    /** A job's end, on the loop: a decision of rule 2, then publish and canary when it passed. */
    void jobDone(JobManager.Finished f) {
        Rule rule = Rule.REPRUNE;
        try {
            JobStatus s = f.status();
            finished.accept(s.state(), f.duration());
            Instant now = clock.instant();
            String what = "prune of " + s.parentVersion() + " to " + s.flopsRatio() + " of its FLOPs";
            PruneResult r = f.result();
            if (r == null) {
                decisions.record(Decision.of(now, rule, Action.PRUNE_FAILED, what + " failed after "
                        + f.duration().toSeconds() + " s: " + s.error(), "job").withVersion(s.newVersion()));
                return;
            }
            String made = s.newVersion() + " made from " + s.parentVersion() + ": "
                    + String.format(Locale.ROOT, "%.2f -> %.2f MFLOPs/image (%.2f), validation accuracy %.4f, in %d s",
                            r.flopsBefore() / 1e6, r.flopsAfter() / 1e6, (double) r.flopsAfter() / r.flopsBefore(),
                            r.validationAccuracy(), f.duration().toSeconds());
            double floor = settings.get().accuracyFloor();
            if (r.validationAccuracy() < floor) {
                notes.note(s.newVersion(), "rejected", "validation accuracy below the floor " + floor);
                decisions.record(Decision.of(now, rule, Action.PRUNE_FAILED, made + ": below the accuracy floor "
                        + floor + ", not published", "job").withVersion(s.newVersion()));
                return;
            }
            decisions.record(Decision.of(now, rule, Action.PRUNE_FINISHED, made, "job").withVersion(s.newVersion()));
            models.publish(r.out());
            notes.note(s.newVersion(), "published", made);
            if (rollout.inProgress()) {
                decisions.record(Decision.of(clock.instant(), Rule.CANARY, Action.HOLD, s.newVersion() + " published"
                        + " but not rolled out: the rollout of " + rollout.state().version() + " is in progress",
                        Rollout.ACTOR).withVersion(s.newVersion()));
                return;
            }
            rollout.begin(s.newVersion(), what);
        } catch (RuntimeException e) {
            decisions.record(Decision.of(clock.instant(), Rule.CANARY, Action.CANARY_FAILED, "the new version of job "
                    + f.status().id() + " could not be published or rolled out: " + e.getMessage(), Rollout.ACTOR)
                    .withVersion(f.status().newVersion()));
        }
    }
}
