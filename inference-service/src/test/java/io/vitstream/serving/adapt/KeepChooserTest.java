package io.vitstream.serving.adapt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.serving.adapt.KeepChooser.Bounds;
import io.vitstream.serving.adapt.KeepChooser.Choice;
import io.vitstream.serving.adapt.KeepChooser.Load;
import io.vitstream.serving.adapt.KeepChooser.Reason;
import io.vitstream.serving.adapt.KeepChooser.Times;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class KeepChooserTest {
    // A full batch of 32 at keep ratio r takes 100 r ms (per image the same at any size); 2 lanes: 640 r^-1 images/s.
    private static final Times LINEAR = (r, b) -> 100 * r * b / 32.0;
    private static final Bounds ADAPTIVE = new Bounds(0.5, 1.0, 1000, 1.0);
    /** The defaults with hysteresis by batches alone (no minimum time). */
    private static final KeepChooser.Settings BY_BATCHES = new KeepChooser.Settings(0.2, 0.15, 0.85, 3, 0);

    private static Load waiting(long records) {
        return new Load(32, records, 0, 10, 0, 32, 2);
    }

    @Test
    void anIdleWorkerServesAtTheCeiling() {
        Choice c = new KeepChooser(KeepChooser.Settings.DEFAULTS).choose(ADAPTIVE, waiting(0), LINEAR);
        assertThat(c.keepRatio()).isEqualTo(1.0);
        assertThat(c.reason()).isEqualTo(Reason.CEILING);
        assertThat(c.predictedBatchMs()).isEqualTo(100.0);
    }

    @Test
    void aBacklogLowersTheRatioToTheHighestThatDrainsItWithinTheBudget() {
        // 600 waiting + 32: at 1.0 (0.64 images/ms) 632/0.64 + 100 = 1088 ms > 800 (SLO 1000, margin 0.2);
        // at 0.8: 790 + 80 = 870 > 800; at 0.7: 691 + 70 = 761 <= 800.
        Choice c = new KeepChooser(KeepChooser.Settings.DEFAULTS).choose(ADAPTIVE, waiting(600), LINEAR);
        assertThat(c.keepRatio()).isEqualTo(0.7);
        assertThat(c.reason()).isEqualTo(Reason.SLO);
        assertThat(c.predictedCompletionMs()).isBetween(700.0, 800.0);
    }

    @Test
    void whenEvenTheFloorMissesItServesAtTheFloor() {
        Choice c = new KeepChooser(KeepChooser.Settings.DEFAULTS).choose(ADAPTIVE, waiting(5_000), LINEAR);
        assertThat(c.keepRatio()).isEqualTo(0.5);
        assertThat(c.reason()).isEqualTo(Reason.FLOOR);
    }

    @Test
    void theOldestRecordsAgeCounts() {
        // Nothing behind it, but the batch's oldest record has waited 760 ms already: 760 + 100 > 800 at 1.0, and
        // 760 + 30 fits only at 0.3 -- under the floor.
        Load old = new Load(32, 0, 0, 760, 0, 32, 2);
        KeepChooser chooser = new KeepChooser(KeepChooser.Settings.DEFAULTS);
        assertThat(chooser.choose(ADAPTIVE, old, LINEAR).reason()).isEqualTo(Reason.FLOOR);
        Load younger = new Load(32, 0, 0, 725, 0, 32, 2); // 725 + 80 > 800 at 0.8, 725 + 70 fits at 0.7
        assertThat(new KeepChooser(KeepChooser.Settings.DEFAULTS).choose(ADAPTIVE, younger, LINEAR).keepRatio())
                .isEqualTo(0.7);
    }

    @Test
    void recordsInTheLanesAreAheadOfTheOldestWaitingOne() {
        Load clear = new Load(32, 0, 0, 600, 0, 32, 2); // 600 + 100 fits at 1.0
        Load queued = new Load(32, 0, 128, 600, 0, 32, 2); // + 128 / 0.64 = 200 ms ahead of it
        assertThat(new KeepChooser(KeepChooser.Settings.DEFAULTS).choose(ADAPTIVE, clear, LINEAR).keepRatio())
                .isEqualTo(1.0);
        assertThat(new KeepChooser(KeepChooser.Settings.DEFAULTS).choose(ADAPTIVE, queued, LINEAR).keepRatio())
                .isLessThan(1.0);
    }

    @Test
    void anArrivalRateOverCapacityLowersTheRatioBeforeAnyBacklogBuilds() {
        // Capacity at 1.0: 640/s, at 0.9: 711/s. 600/s is 0.94 of 1.0's capacity (over 0.9) and 0.84 of 0.9's.
        Load arriving = new Load(8, 0, 0, 5, 600, 32, 2);
        Choice c = new KeepChooser(KeepChooser.Settings.DEFAULTS).choose(ADAPTIVE, arriving, LINEAR);
        assertThat(c.keepRatio()).isEqualTo(0.9);
        assertThat(c.reason()).isEqualTo(Reason.SLO);
    }

    @Test
    void itNeverLeavesTheBounds() {
        Bounds narrow = new Bounds(0.6, 0.8, 1000, 0.8);
        KeepChooser chooser = new KeepChooser(KeepChooser.Settings.DEFAULTS);
        for (long backlog : new long[] {0, 100, 300, 600, 2_000, 50_000, 0, 0, 0, 0, 0}) {
            double r = chooser.choose(narrow, waiting(backlog), LINEAR).keepRatio();
            assertThat(r).isBetween(0.6, 0.8);
        }
        assertThat(KeepChooser.grid(0.55, 1.0)).containsExactly(1.0, 0.9, 0.8, 0.7, 0.6, 0.55);
        assertThat(KeepChooser.grid(0.7, 0.7)).containsExactly(0.7);
    }

    @Test
    void aFixedRatioIsServedAsItIs() {
        Choice c = new KeepChooser(KeepChooser.Settings.DEFAULTS).choose(new Bounds(0.6, 0.6, Double.NaN, 0.6),
                waiting(50_000), LINEAR);
        assertThat(c.keepRatio()).isEqualTo(0.6);
        assertThat(c.reason()).isEqualTo(Reason.FIXED);
    }

    @Test
    void beforeAnythingIsMeasuredItServesControlsStartingRatio() {
        Times none = (r, b) -> Double.NaN;
        Choice c = new KeepChooser(KeepChooser.Settings.DEFAULTS).choose(new Bounds(0.5, 1.0, 250, 0.8),
                waiting(0), none);
        assertThat(c.keepRatio()).isEqualTo(0.8);
        assertThat(c.reason()).isEqualTo(Reason.WARMING);
    }

    @Test
    void onlyRatiosWithAMeasurementAreCandidates() {
        Times onlyHalf = (r, b) -> r == 0.5 ? LINEAR.batchMs(r, b) : Double.NaN;
        Choice c = new KeepChooser(KeepChooser.Settings.DEFAULTS).choose(ADAPTIVE, waiting(0), onlyHalf);
        assertThat(c.keepRatio()).isEqualTo(0.5);
    }

    @Test
    void itLowersAtOnceButRaisesOnlyAfterTheHigherRatioFitsTheStricterBudgetForRaiseAfterBatches() {
        KeepChooser chooser = new KeepChooser(BY_BATCHES); // raise after 3
        assertThat(chooser.choose(ADAPTIVE, waiting(600), LINEAR).keepRatio()).isEqualTo(0.7);
        // The backlog is served: 1.0 fits even the raise budget (1 - 0.2 - 0.15) x 1000 = 650 ms.
        List<Choice> next = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            next.add(chooser.choose(ADAPTIVE, waiting(0), LINEAR));
        }
        assertThat(next).extracting(Choice::reason).containsExactly(Reason.HOLD, Reason.HOLD, Reason.CEILING);
        assertThat(next).extracting(Choice::keepRatio).containsExactly(0.7, 0.7, 1.0);
        // Back at 1.0, a burst lowers it within the same batch.
        assertThat(chooser.choose(ADAPTIVE, waiting(600), LINEAR).keepRatio()).isEqualTo(0.7);
    }

    @Test
    void aLoadNearTheBoundaryDoesNotFlap() {
        KeepChooser chooser = new KeepChooser(BY_BATCHES);
        chooser.choose(ADAPTIVE, waiting(600), LINEAR); // down to 0.7
        // 400 waiting: 1.0 fits the budget (432 / 0.64 + 100 = 775 <= 800 ms) but not the raise budget (650 ms),
        // 0.8 fits both (620 ms). Every fifth batch finds nothing waiting (1.0 would fit the raise budget once).
        List<Double> ratios = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            Load load = i % 5 == 4 ? waiting(0) : waiting(400);
            ratios.add(chooser.choose(ADAPTIVE, load, LINEAR).keepRatio());
        }
        // One step up to 0.8 after three batches in a row, then it stays: no oscillation.
        assertThat(ratios.subList(0, 2)).containsOnly(0.7);
        assertThat(ratios.subList(2, 30)).containsOnly(0.8);
    }

    @Test
    void raisingAlsoWaitsForTheMinimumTime() {
        KeepChooser chooser = new KeepChooser(KeepChooser.Settings.DEFAULTS); // 3 batches and 1,000 ms
        assertThat(chooser.choose(ADAPTIVE, new Load(32, 600, 0, 10, 0, 32, 2, 1.0, 0), LINEAR).keepRatio())
                .isEqualTo(0.7);
        List<Double> ratios = new ArrayList<>();
        for (long t = 100; t <= 1500; t += 100) {
            ratios.add(chooser.choose(ADAPTIVE, new Load(32, 0, 0, 10, 0, 32, 2, 1.0, t), LINEAR).keepRatio());
        }
        // The streak starts at 100 ms: held until 1,100 ms, then 1.0.
        assertThat(ratios.subList(0, 10)).containsOnly(0.7);
        assertThat(ratios.get(10)).isEqualTo(1.0);
    }

    @Test
    void afterAResetTheFirstBatchIsJudgedAfresh() {
        KeepChooser chooser = new KeepChooser(KeepChooser.Settings.DEFAULTS);
        chooser.choose(ADAPTIVE, waiting(600), LINEAR); // 0.7
        assertThat(chooser.choose(ADAPTIVE, waiting(0), LINEAR).reason()).isEqualTo(Reason.HOLD);
        chooser.reset();
        assertThat(chooser.choose(ADAPTIVE, waiting(0), LINEAR).keepRatio()).isEqualTo(1.0);
    }

    @Test
    void aLowerEfficiencyMeansLessCapacity() {
        // Nothing waiting, 560/s arriving: at full efficiency 1.0 fits (0.875 of 640/s is over 0.85; 0.9 fits);
        // at efficiency 0.7 only 0.6 does (capacity 0.7 x 1,067 = 747/s; 560 / 747 = 0.75).
        Load full = new Load(8, 0, 0, 5, 560, 32, 2, 1.0, 0);
        Load slow = new Load(8, 0, 0, 5, 560, 32, 2, 0.7, 0);
        assertThat(new KeepChooser(KeepChooser.Settings.DEFAULTS).choose(ADAPTIVE, full, LINEAR).keepRatio())
                .isEqualTo(0.9);
        assertThat(new KeepChooser(KeepChooser.Settings.DEFAULTS).choose(ADAPTIVE, slow, LINEAR).keepRatio())
                .isEqualTo(0.6);
    }

    @Test
    void settingsOutOfRangeAreRefused() {
        assertThatThrownBy(() -> new KeepChooser.Settings(0.7, 0.4, 0.9, 3, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("margin");
        assertThatThrownBy(() -> new KeepChooser.Settings(0.2, 0.1, 1.5, 3, 0))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new KeepChooser.Settings(0.2, 0.1, 0.9, 3, -1))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
