package io.vitstream.controller.job;

import io.vitstream.controller.error.ControllerException;
import io.vitstream.controller.pruner.PruneRequest;
import io.vitstream.controller.pruner.PruneResult;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One prune job at a time, in this process, on a background thread: a second start while one runs is refused
 * ({@link ControllerException.Kind#CONFLICT}). Progress is readable from any thread; the end is handed to
 * {@code onDone} on the job's thread (the controller moves it to its own loop).
 */
public final class JobManager implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(JobManager.class);

    /** How a job ended: its final status, its result (null when it failed), how long it took. */
    public record Finished(JobStatus status, PruneResult result, Duration duration) {}

    private final PruneRunner runner;
    private final Clock clock;
    private final AtomicInteger ids = new AtomicInteger();
    private volatile JobStatus current;
    private volatile Thread thread;

    /** How long {@link #close} waits for a running job before abandoning it. */
    public static final Duration CLOSE_GRACE = Duration.ofSeconds(30);

    private final Duration closeGrace;

    public JobManager(PruneRunner runner, Clock clock) {
        this(runner, clock, CLOSE_GRACE);
    }

    /** As above, waiting at most {@code closeGrace} for a running job on {@link #close}. */
    public JobManager(PruneRunner runner, Clock clock, Duration closeGrace) {
        this.runner = runner;
        this.clock = clock;
        this.closeGrace = closeGrace;
    }

    /** The running job, or the last one, or null. */
    public JobStatus current() {
        return current;
    }

    public boolean running() {
        JobStatus c = current;
        return c != null && c.running();
    }

    /**
     * Starts a job on its own thread.
     *
     * @param prepare makes the request on the job's thread (fetching the parent can take a while)
     * @throws ControllerException a job is running already
     */
    public synchronized JobStatus start(String parentVersion, String newVersion, double flopsRatio, String reason,
            Supplier<PruneRequest> prepare, BiConsumer<JobManager, Finished> onDone) {
        if (running()) {
            throw ControllerException.conflict("prune job " + current.id() + " (" + current.parentVersion() + " -> "
                    + current.newVersion() + ") is running; one job at a time");
        }
        Instant start = clock.instant();
        String id = "job-" + ids.incrementAndGet();
        current = new JobStatus(id, "running", parentVersion, newVersion, flopsRatio, reason, start.toString(), null,
                "fetch", 0.0, "fetching " + parentVersion, null, null, null, null);
        Thread t = new Thread(() -> runJob(id, start, prepare, onDone), "prune-" + id);
        t.setDaemon(true);
        thread = t;
        t.start();
        return current;
    }

    private void runJob(String id, Instant start, Supplier<PruneRequest> prepare, BiConsumer<JobManager,
            Finished> onDone) {
        PruneResult result = null;
        String error = null;
        try {
            PruneRequest request = prepare.get();
            result = runner.run(request, (phase, fraction, detail) -> {
                JobStatus c = current;
                if (c != null && c.id().equals(id)) {
                    current = c.progress(phase, fraction, detail);
                }
            });
        } catch (Throwable e) { // an Error too (out of memory in training): the job must end as failed, not hang
            error = e.getClass().getSimpleName() + ": " + e.getMessage();
            log.warn("prune {} failed: {}", id, error, e);
        }
        Instant end = clock.instant();
        JobStatus done = result == null
                ? current.finished("failed", end.toString(), error == null ? "no result" : error, null, null, null)
                : current.finished("succeeded", end.toString(), null, result.flopsBefore(), result.flopsAfter(),
                        result.validationAccuracy());
        current = done;
        onDone.accept(this, new Finished(done, result, Duration.between(start, end)));
    }

    /**
     * Waits up to the close grace for a running job to end (it cannot be interrupted safely mid-training); a job still
     * running then is abandoned with a warning (its thread is a daemon, and the next controller re-plans from the
     * compacted topics).
     */
    @Override
    public void close() throws InterruptedException {
        Thread t = thread;
        if (t != null && t.isAlive()) {
            log.info("waiting up to {} s for prune {} to end", closeGrace.toSeconds(), current.id());
            t.join(closeGrace.toMillis());
            if (t.isAlive()) {
                log.warn("stopping with prune {} still running; it is abandoned", current.id());
            }
        }
    }
}
