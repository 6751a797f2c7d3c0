package io.vitstream.controller.policy;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.kafka.WorkerStatus;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The fleet's arrival, capacity per version and keep ratio, share at the floor and the scale-out hint. */
class FleetLoadTest {
    private static WorkerStatus w(String id, String version, WorkerStatus.Load l) {
        return PolicyTest.worker(id, version, l);
    }

    @Test
    void sumsArrivalAndCapacityPerVersionAndHintsTheWorkerCount() {
        FleetLoad f = FleetLoad.of(List.of(
                w("w1", "v1", new WorkerStatus.Load(60, 10, 120, 0.5, 1.0, Map.of("0.50", 40.0, "1.00", 20.0), 0.9)),
                w("w2", "v1", new WorkerStatus.Load(30, 5, 300, 0.5, 1.0, Map.of("0.50", 50.0, "0.80", 30.0), 0.6)),
                w("w3", "v2", new WorkerStatus.Load(10, 0, 0, 0.5, 1.0, Map.of("0.50", 90.0), 0.0)),
                w("w4", "v1", null)), "v1", 0.5);
        assertThat(f.workers()).isEqualTo(4);
        assertThat(f.reporting()).isEqualTo(3);
        assertThat(f.arrivalPerS()).isEqualTo(100.0);
        assertThat(f.backlog()).isEqualTo(15);
        assertThat(f.oldestWaitMs()).isEqualTo(300.0);
        assertThat(f.capacityPerS()).isEqualTo(Map.of("v1", Map.of("0.50", 90.0, "0.80", 30.0, "1.00", 20.0),
                "v2", Map.of("0.50", 90.0)));
        assertThat(f.capacityAtFloorPerS()).isEqualTo(90.0);
        assertThat(f.workersAtFloor()).isEqualTo(2);
        // 100 images/s over 45 per v1 worker at the floor: 3 workers.
        assertThat(f.workersNeeded()).isEqualTo(3);
        // Arrival-weighted: (60 x 0.9 + 30 x 0.6 + 10 x 0) / 100.
        assertThat(f.atFloorShare()).isCloseTo(0.72, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(f.atFloorSource()).isEqualTo(FleetLoad.FROM_HEARTBEATS);
    }

    @Test
    void aWorkerWithoutAFigureAtTheFloorCountsWithItsNearestRatio() {
        FleetLoad f = FleetLoad.of(List.of(
                w("w1", "v1", new WorkerStatus.Load(10, 0, 0, 0.5, 1.0, Map.of("0.60", 40.0, "1.00", 20.0), 0.1))),
                "v1", 0.5);
        assertThat(f.capacityAtFloorPerS()).isEqualTo(40.0);
        assertThat(f.workersNeeded()).isEqualTo(1);
        assertThat(FleetLoad.at(Map.of("bogus", 1.0), 0.5)).isNull();
    }

    @Test
    void withoutLoadSectionsNothingIsKnownAndFloorEqualToCeilingGivesNoShare() {
        FleetLoad none = FleetLoad.of(List.of(w("w1", "v1", null)), "v1", 0.5);
        assertThat(none.arrivalPerS()).isZero();
        assertThat(none.atFloorShare()).isNull();
        assertThat(none.capacityAtFloorPerS()).isNull();
        assertThat(none.workersNeeded()).isNull();
        assertThat(none.withPredictionsAtFloor(Map.of())).isSameAs(none);
        FleetLoad pinned = FleetLoad.of(List.of(
                w("w1", "v1", new WorkerStatus.Load(10, 0, 0, 0.7, 0.7, Map.of("0.70", 40.0), 0.0))), "v1", 0.7);
        assertThat(pinned.atFloorShare()).isNull();
        assertThat(pinned.capacityAtFloorPerS()).isEqualTo(40.0);
    }
}
