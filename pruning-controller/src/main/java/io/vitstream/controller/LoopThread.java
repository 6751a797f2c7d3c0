package io.vitstream.controller;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The controller's one loop thread: every change of state happens on it (the tick, a job's end, admin mutations
 * handed over by {@link #call}), so the rules, the rollout and the operator never race.
 */
final class LoopThread implements Executor, AutoCloseable {
    private final ScheduledExecutorService executor;
    private final Duration callTimeout;
    private volatile Thread thread;

    LoopThread(String name, Duration callTimeout) {
        this.callTimeout = callTimeout;
        this.executor = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            thread = t;
            return t;
        });
    }

    /** Runs {@code tick} now and then every {@code delayMs} after the previous run ended. */
    void every(long delayMs, Runnable tick) {
        executor.scheduleWithFixedDelay(tick, 0, delayMs, TimeUnit.MILLISECONDS);
    }

    @Override
    public void execute(Runnable task) {
        executor.execute(task);
    }

    /**
     * Runs {@code task} on the loop and returns its result (its {@link RuntimeException} rethrown as is); runs it at
     * once when called on the loop. A task the loop does not start within the call timeout is withdrawn.
     */
    <T> T call(Callable<T> task) {
        if (Thread.currentThread() == thread) {
            try {
                return task.call();
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e.toString(), e);
            }
        }
        Future<T> f = executor.submit(task);
        try {
            return f.get(callTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException(e.getCause().toString(), e.getCause());
        } catch (TimeoutException e) {
            boolean withdrawn = f.cancel(false);
            throw new IllegalStateException("the controller's loop did not answer within " + callTimeout.toSeconds()
                    + " s; " + (withdrawn ? "the change was withdrawn, not applied" : "it is still running and may apply"));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    @Override
    public void close() {
        executor.shutdownNow();
        try {
            executor.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
