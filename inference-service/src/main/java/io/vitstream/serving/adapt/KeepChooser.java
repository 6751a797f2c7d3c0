package io.vitstream.serving.adapt;

import java.util.ArrayList;
import java.util.List;

/**
 * The worker's fast loop: before each batch, the highest keep ratio within the bounds on vit.control whose predicted
 * completion of the waiting work meets the SLO with a margin. Pure apart from its hysteresis state (the ratio it
 * chose last and how many batches in a row a higher one would have fitted): no clock, no Kafka, no model; the worker
 * hands it what it can see and the measured service times.
 *
 * <p>The prediction for a candidate ratio r, with t(r, b) the measured forward time of b images, L lanes, full
 * batches of B and capacity mu(r) = L B / t(r, B):
 * <ul>
 *   <li>the oldest waiting record: its age, plus the records in the lanes ahead of it at mu(r), plus its own batch's
 *       forward pass t(r, b);
 *   <li>the newest: every record waiting or in the lanes served at mu(r), plus one pass t(r, B);
 *   <li>arrivals: the utilisation lambda / mu(r) must stay under {@code max_utilisation}, else the backlog grows
 *       without bound however small it is now.
 * </ul>
 * mu(r) is scaled by the worker's measured efficiency: the share of its predicted lane time that a backlogged
 * worker really achieves (decoding, commits and other processes on the cores take the rest). r fits when the larger
 * of the two completions is at most (1 - margin) x SLO and the utilisation fits. Lowering is immediate (within one
 * batch); raising needs the higher ratio to fit with a further {@code raise_margin} for {@code raise_after} batches
 * in a row spanning at least {@code raise_after_ms}, so the ratio does not flap at a boundary.
 */
public final class KeepChooser {
    /** Candidate ratios are this far apart between the floor and the ceiling. */
    public static final double GRID_STEP = 0.1;

    /**
     * @param margin share of the SLO kept free when a ratio is judged to fit (0.2: predicted completion at most 0.8 SLO)
     * @param raiseMargin further share of the SLO a higher ratio must leave free before the chooser raises
     * @param maxUtilisation highest arrival rate / capacity a ratio may run at
     * @param raiseAfter batches in a row the higher ratio must fit before the chooser raises
     * @param raiseAfterMs and for at least this long
     */
    public record Settings(double margin, double raiseMargin, double maxUtilisation, int raiseAfter,
            long raiseAfterMs) {
        public static final Settings DEFAULTS = new Settings(0.2, 0.15, 0.85, 3, 1000);

        public Settings {
            if (!(margin >= 0 && margin < 1) || !(raiseMargin >= 0 && margin + raiseMargin < 1)
                    || !(maxUtilisation > 0 && maxUtilisation <= 1) || raiseAfter < 1 || raiseAfterMs < 0) {
                throw new IllegalArgumentException("adaptive keep settings out of range: margin " + margin
                        + ", raise margin " + raiseMargin + ", max utilisation " + maxUtilisation + ", raise after "
                        + raiseAfter + " batches and " + raiseAfterMs + " ms");
            }
        }
    }

    /**
     * What vit.control allows.
     *
     * @param start the ratio served while nothing is measured (vit.control's keep_ratio)
     */
    public record Bounds(double floor, double ceiling, double sloMs, double start) {
        public boolean fixed() {
            return floor >= ceiling;
        }
    }

    /**
     * What the worker sees before a batch.
     *
     * @param batch records in the batch about to run
     * @param waiting records waiting behind it: fetched and not batched, plus the partitions' lag
     * @param inLanes records in batches handed to the lanes and not finished
     * @param oldestAgeMs age of the batch's oldest record (it is the oldest waiting)
     * @param arrivalPerS records per second arriving on the worker's partitions
     * @param batchMax the largest batch
     * @param lanes lanes running batches side by side
     * @param efficiency share of the predicted lane capacity the worker achieves when backlogged, in (0, 1]
     * @param nowMs the loop's clock (only the hysteresis reads it)
     */
    public record Load(int batch, long waiting, long inLanes, double oldestAgeMs, double arrivalPerS, int batchMax,
            int lanes, double efficiency, long nowMs) {
        /** A load at full efficiency, at time 0. */
        public Load(int batch, long waiting, long inLanes, double oldestAgeMs, double arrivalPerS, int batchMax,
                int lanes) {
            this(batch, waiting, inLanes, oldestAgeMs, arrivalPerS, batchMax, lanes, 1.0, 0);
        }
    }

    /** Forward-pass time of {@code batch} images at {@code keepRatio} in ms; NaN when the ratio cannot serve yet. */
    @FunctionalInterface
    public interface Times {
        double batchMs(double keepRatio, int batch);
    }

    /** Why a ratio was chosen; {@link #wire} is the prediction's {@code keep_reason}. */
    public enum Reason {
        /** floor = ceiling: the fixed ratio of vit.control. */
        FIXED("fixed"),
        /** No measured service time yet: vit.control's keep_ratio. */
        WARMING("warming"),
        /** The ceiling meets the SLO. */
        CEILING("ceiling"),
        /** Lowered to the highest ratio that meets the SLO. */
        SLO("slo"),
        /** Not even the floor is predicted to meet the SLO: served at the floor. */
        FLOOR("floor"),
        /** A higher ratio would fit now, but not yet for long enough (hysteresis). */
        HOLD("hold");

        private final String wire;

        Reason(String wire) {
            this.wire = wire;
        }

        public String wire() {
            return wire;
        }
    }

    /**
     * @param predictedBatchMs predicted forward time of this batch at {@code keepRatio} (NaN when unmeasured)
     * @param predictedCompletionMs predicted completion of the waiting work at {@code keepRatio}, from the oldest
     *     record's arrival (NaN when unmeasured)
     */
    public record Choice(double keepRatio, Reason reason, double predictedBatchMs, double predictedCompletionMs) {}

    private final Settings settings;
    private double current = Double.NaN;
    private double raiseCandidate = Double.NaN;
    private int raiseStreak;
    private long raiseSinceMs;

    public KeepChooser(Settings settings) {
        this.settings = settings;
    }

    /** The candidate ratios from {@code ceiling} down to {@code floor}, {@link #GRID_STEP} apart (both ends in). */
    public static List<Double> grid(double floor, double ceiling) {
        List<Double> out = new ArrayList<>();
        for (int i = 0; ; i++) {
            double r = round(ceiling - i * GRID_STEP);
            if (r <= floor + 1e-9) {
                break;
            }
            out.add(r);
        }
        out.add(round(floor));
        return out;
    }

    /** The ratio for the next batch. */
    public Choice choose(Bounds bounds, Load load, Times times) {
        if (bounds.fixed()) {
            return remember(new Choice(bounds.ceiling(), Reason.FIXED, times.batchMs(bounds.ceiling(), load.batch()),
                    completionMs(bounds.ceiling(), load, times)));
        }
        double budget = (1 - settings.margin()) * bounds.sloMs();
        double raiseBudget = (1 - settings.margin() - settings.raiseMargin()) * bounds.sloMs();
        List<Double> grid = grid(bounds.floor(), bounds.ceiling());
        double fits = Double.NaN; // the highest ratio that meets the budget
        double fitsToRaise = Double.NaN; // the highest that meets the stricter raise budget
        boolean anyMeasured = false;
        for (double r : grid) {
            double done = completionMs(r, load, times);
            if (Double.isNaN(done)) {
                continue;
            }
            anyMeasured = true;
            double util = utilisation(r, load, times);
            if (Double.isNaN(fits) && done <= budget && util <= settings.maxUtilisation()) {
                fits = r;
            }
            if (Double.isNaN(fitsToRaise) && done <= raiseBudget
                    && util <= settings.maxUtilisation() - settings.raiseMargin()) {
                fitsToRaise = r;
            }
        }
        if (!anyMeasured) {
            double start = Math.max(bounds.floor(), Math.min(bounds.ceiling(), bounds.start()));
            return remember(new Choice(start, Reason.WARMING, Double.NaN, Double.NaN));
        }
        double floor = round(bounds.floor());
        double cur = Double.isNaN(current) ? Double.NaN : Math.max(floor, Math.min(round(bounds.ceiling()), current));
        if (Double.isNaN(fits)) {
            return remember(choice(floor, Reason.FLOOR, load, times));
        }
        if (Double.isNaN(cur) || fits <= cur) {
            // First batch, or lowering (or staying): at once.
            return remember(choice(fits, fits >= round(bounds.ceiling()) ? Reason.CEILING : Reason.SLO, load, times));
        }
        // A higher ratio than the current one fits: raise only to what fits the stricter budget, after a streak.
        double up = Double.isNaN(fitsToRaise) ? cur : Math.max(cur, fitsToRaise);
        if (up > cur) {
            if (up == raiseCandidate) {
                raiseStreak++;
            } else {
                raiseStreak = 1;
                raiseSinceMs = load.nowMs();
            }
            raiseCandidate = up;
            if (raiseStreak >= settings.raiseAfter() && load.nowMs() - raiseSinceMs >= settings.raiseAfterMs()) {
                return remember(choice(up, up >= round(bounds.ceiling()) ? Reason.CEILING : Reason.SLO, load, times));
            }
        } else {
            raiseStreak = 0;
            raiseCandidate = Double.NaN;
        }
        current = cur;
        return choice(cur, Reason.HOLD, load, times);
    }

    /** Forgets the last choice and any raise streak: the next batch is judged afresh (new bounds on vit.control). */
    public void reset() {
        current = Double.NaN;
        raiseStreak = 0;
        raiseCandidate = Double.NaN;
    }

    /** The ratio chosen last (NaN before the first batch). */
    public double current() {
        return current;
    }

    private Choice remember(Choice c) {
        current = c.keepRatio();
        raiseStreak = 0;
        raiseCandidate = Double.NaN;
        return c;
    }

    private static Choice choice(double r, Reason why, Load load, Times times) {
        return new Choice(r, why, times.batchMs(r, load.batch()), completionMs(r, load, times));
    }

    /** Predicted completion of the waiting work at {@code r}, from the oldest record's arrival; NaN when unmeasured. */
    static double completionMs(double r, Load load, Times times) {
        double full = times.batchMs(r, load.batchMax());
        double own = times.batchMs(r, Math.max(1, load.batch()));
        if (Double.isNaN(full) || Double.isNaN(own) || full <= 0) {
            return Double.NaN;
        }
        double perMs = load.efficiency() * load.lanes() * load.batchMax() / full; // images per ms, full batches
        double oldest = load.oldestAgeMs() + load.inLanes() / perMs + own;
        double newest = (load.inLanes() + load.batch() + load.waiting()) / perMs + full;
        return Math.max(oldest, newest);
    }

    /** Arrival rate over capacity at {@code r}. */
    static double utilisation(double r, Load load, Times times) {
        double full = times.batchMs(r, load.batchMax());
        double capacityPerS = load.efficiency() * load.lanes() * load.batchMax() * 1000.0 / full;
        return load.arrivalPerS() / capacityPerS;
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }
}
