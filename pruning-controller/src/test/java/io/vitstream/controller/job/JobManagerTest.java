package io.vitstream.controller.job;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** close() waits for a running job within its grace, and abandons one that outlasts it. */
class JobManagerTest {
    @Test
    void closeWaitsForARunningJobToEnd() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        AtomicReference<JobManager.Finished> finished = new AtomicReference<>();
        JobManager jobs = new JobManager((request, progress) -> {
            started.countDown();
            Thread.sleep(300);
            throw new IllegalStateException("no model here; the job only takes time");
        }, Clock.systemUTC(), Duration.ofSeconds(30));
        jobs.start("v1", "v2", 0.5, "test", () -> null, (m, f) -> finished.set(f));
        assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
        jobs.close();
        assertThat(finished.get()).as("the job ended before close() returned").isNotNull();
        assertThat(finished.get().status().state()).isEqualTo("failed");
        assertThat(jobs.running()).isFalse();
    }

    @Test
    void aJobThatOutlastsTheGraceIsAbandoned() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        JobManager jobs = new JobManager((request, progress) -> {
            release.await();
            return null;
        }, Clock.systemUTC(), Duration.ofMillis(100));
        jobs.start("v1", "v2", 0.5, "test", () -> null, (m, f) -> { });
        jobs.close(); // returns after the grace, not when the job ends
        assertThat(jobs.running()).as("still running, abandoned").isTrue();
        release.countDown();
    }
}
