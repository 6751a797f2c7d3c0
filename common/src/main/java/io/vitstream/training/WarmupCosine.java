package io.vitstream.training;

import ai.djl.training.tracker.Tracker;

/**
 * Learning rate: linear warm-up from ~0 to {@code peak} over {@code warmupSteps}, then cosine decay to {@code floor}
 * at {@code totalSteps}. {@code offset} shifts the step count when training resumes mid-run (DJL's optimiser counts
 * updates from zero again).
 */
public final class WarmupCosine implements Tracker {
    private final float peak;
    private final float floor;
    private final int warmupSteps;
    private final int totalSteps;
    private final int offset;

    public WarmupCosine(float peak, float floor, int warmupSteps, int totalSteps, int offset) {
        if (!(peak > 0) || floor < 0 || floor > peak || warmupSteps < 0 || totalSteps < 1) {
            throw new IllegalArgumentException("invalid schedule: peak=" + peak + " floor=" + floor + " warmup="
                    + warmupSteps + " total=" + totalSteps);
        }
        this.peak = peak;
        this.floor = floor;
        this.warmupSteps = warmupSteps;
        this.totalSteps = totalSteps;
        this.offset = offset;
    }

    @Override
    public float getNewValue(int numUpdate) {
        int step = numUpdate + offset;
        if (step < warmupSteps) {
            return peak * (step + 1) / warmupSteps;
        }
        double progress = Math.min(1.0, (double) (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
        return (float) (floor + 0.5 * (peak - floor) * (1 + Math.cos(Math.PI * progress)));
    }
}
