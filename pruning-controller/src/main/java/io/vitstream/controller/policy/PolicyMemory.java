package io.vitstream.controller.policy;

/**
 * What the policy carries from one evaluation to the next: runs of consecutive windows and the time of each kind of
 * action (epoch milliseconds; 0: never), for the cool-downs. The times are durable (the controller's state topic),
 * so a restarted controller keeps honouring cool-downs; the window runs start again from zero.
 */
public record PolicyMemory(int overWindows, int headroomWindows, long lastKeepChangeMs, long lastPruneMs,
        long lastRollbackMs, long lastHoldMs) {

    public static final PolicyMemory EMPTY = new PolicyMemory(0, 0, 0, 0, 0, 0);

    PolicyMemory runs(int over, int headroom) {
        return new PolicyMemory(over, headroom, lastKeepChangeMs, lastPruneMs, lastRollbackMs, lastHoldMs);
    }

    /** A keep-ratio change now (by a rule or an operator): runs restart, the keep cool-down starts. */
    public PolicyMemory keepChanged(long nowMs) {
        return new PolicyMemory(0, 0, nowMs, lastPruneMs, lastRollbackMs, lastHoldMs);
    }

    public PolicyMemory pruneStarted(long nowMs) {
        return new PolicyMemory(0, headroomWindows, lastKeepChangeMs, nowMs, lastRollbackMs, lastHoldMs);
    }

    public PolicyMemory rolledBack(long nowMs) {
        return new PolicyMemory(0, 0, lastKeepChangeMs, lastPruneMs, nowMs, lastHoldMs);
    }

    PolicyMemory held(long nowMs) {
        return new PolicyMemory(overWindows, headroomWindows, lastKeepChangeMs, lastPruneMs, lastRollbackMs, nowMs);
    }

    /** Only the durable part (restart): the runs of windows start again. */
    public PolicyMemory durable() {
        return runs(0, 0);
    }
}
