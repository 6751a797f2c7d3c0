package io.vitstream.controller;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vitstream.controller.error.ControllerException;
import io.vitstream.controller.job.JobManager;
import io.vitstream.controller.job.JobStatus;
import io.vitstream.controller.job.PruneRunner;
import io.vitstream.controller.policy.Action;
import io.vitstream.controller.policy.Decision;
import io.vitstream.controller.policy.DecisionLog;
import io.vitstream.controller.policy.PolicySettings;
import io.vitstream.controller.pruner.PruneResult;
import io.vitstream.controller.rollout.Rollout;
import io.vitstream.controller.state.ModelRepository;
import io.vitstream.kafka.ControlMessage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A re-prune from start to canary over fakes: the parent fetched, the job's end handed to the loop, a result under
 * the accuracy floor rejected, a good one published and set as canary next to the active version (bounds kept).
 */
class RepruneOrchestratorTest {
    @TempDir
    Path tmp;

    private final Fakes.Cluster cluster = new Fakes.Cluster().publish("v1", null);
    private final Fakes.Plane plane = new Fakes.Plane(cluster);
    private final Fakes.State state = new Fakes.State();
    private final Fakes.MutableClock clock = new Fakes.MutableClock();
    private final DecisionLog decisions = new DecisionLog(100, new SimpleMeterRegistry());
    private final VersionNotes notes = new VersionNotes(state, clock);
    private final LinkedBlockingQueue<Runnable> loop = new LinkedBlockingQueue<>();
    private final List<String> fetched = new CopyOnWriteArrayList<>();
    private final List<String> published = new ArrayList<>();
    private final List<String> timed = new CopyOnWriteArrayList<>();
    private String cannotPublish;
    private double accuracy = 0.85;

    private final ModelRepository models = new ModelRepository() {
        @Override
        public String cannotPublish() {
            return cannotPublish;
        }

        @Override
        public void fetch(String version, Path dir) {
            fetched.add(version + " -> " + dir.getFileName());
        }

        @Override
        public String publish(Path dir) {
            String v = dir.getFileName().toString();
            published.add(v);
            cluster.publish(v, "v1");
            return v;
        }
    };

    private RepruneOrchestrator orchestrator(PruneRunner runner) {
        PolicySettings s = PolicySettings.defaults();
        Rollout rollout = new Rollout(plane, new Fakes.Metrics(), decisions, () -> s, clock, notes::rollout);
        return new RepruneOrchestrator(new JobManager(runner, clock), models, cluster, rollout, decisions, notes,
                () -> s, Fakes.config(tmp, Map.of()), loop::add, (outcome, d) -> timed.add(outcome), clock);
    }

    private final PruneRunner succeeds = (request, progress) -> {
        Files.createDirectories(request.out());
        return new PruneResult(request.out(), null, 1000, 600, accuracy, accuracy, null, null);
    };

    /** Runs what the job handed to the loop. */
    private void runLoop() throws InterruptedException {
        Runnable r = loop.poll(30, TimeUnit.SECONDS);
        assertThat(r).as("the job's end handed to the loop").isNotNull();
        r.run();
    }

    @Test
    void aGoodResultIsPublishedAndGoesOutAsACanaryWithTheBoundsKept() throws Exception {
        cluster.control = ControlMessage.active("v1", 1.0).withBounds(0.6, 1.0, 200);
        RepruneOrchestrator o = orchestrator(succeeds);
        JobStatus j = o.start("v1", 0.6, "rule 2 said so");
        assertThat(j.newVersion()).isEqualTo("v1-p60-20261128T100000");
        runLoop();
        assertThat(fetched).containsExactly("v1 -> v1");
        assertThat(published).containsExactly(j.newVersion());
        assertThat(timed).containsExactly("succeeded");
        assertThat(decisions.history()).extracting(Decision::action).containsExactly(Action.PRUNE_FINISHED,
                Action.START_CANARY);
        assertThat(decisions.history().get(0).reason()).startsWith(j.newVersion() + " made from v1: 0.00 -> 0.00"
                + " MFLOPs/image (0.60), validation accuracy 0.8500");
        assertThat(cluster.control).isEqualTo(ControlMessage.active("v1", 1.0).withBounds(0.6, 1.0, 200)
                .withCanary(j.newVersion(), 0.25));
        assertThat(notes.get(j.newVersion()).status()).isEqualTo("canary");
    }

    @Test
    void aResultUnderTheAccuracyFloorIsRejectedAndNotPublished() throws Exception {
        cluster.control = ControlMessage.active("v1", 1.0);
        accuracy = 0.5;
        RepruneOrchestrator o = orchestrator(succeeds);
        String made = o.start("v1", 0.5, "operator").newVersion();
        runLoop();
        assertThat(published).isEmpty();
        assertThat(notes.get(made).status()).isEqualTo("rejected");
        Decision d = decisions.history().get(0);
        assertThat(d.action()).isEqualTo(Action.PRUNE_FAILED);
        assertThat(d.reason()).endsWith("below the accuracy floor 0.8, not published");
        assertThat(cluster.control.canaryVersion()).isNull();
    }

    @Test
    void aFailedJobIsSaidWithItsError() throws Exception {
        cluster.control = ControlMessage.active("v1", 1.0);
        RepruneOrchestrator o = orchestrator((request, progress) -> {
            throw new IllegalStateException("out of data");
        });
        o.start("v1", 0.5, "operator");
        runLoop();
        assertThat(timed).containsExactly("failed");
        assertThat(decisions.history().get(0).reason()).contains("failed after 0 s: IllegalStateException: out of data");
    }

    @Test
    void refusesWhatCannotBePublishedOrFetchedAndNamesVersionsUniquely() throws Exception {
        RepruneOrchestrator o = orchestrator(succeeds);
        cannotPublish = "no signing.private.key is configured";
        assertThatThrownBy(() -> o.start("v1", 0.5, "x")).isInstanceOf(ControllerException.class)
                .hasMessage("no signing.private.key is configured");
        cannotPublish = null;
        assertThatThrownBy(() -> o.start("nope", 0.5, "x"))
                .hasMessage("nope is not published on vit.models, so it cannot be fetched to prune");
        // A child of a re-pruned version is named from the original; a name taken gets a suffix.
        assertThat(o.newVersionName("v1-p60-20261101T000000", 0.5)).isEqualTo("v1-p50-20261128T100000");
        cluster.publish("v1-p50-20261128T100000", "v1");
        assertThat(o.newVersionName("v1", 0.5)).isEqualTo("v1-p50-20261128T100000-2");
    }
}
