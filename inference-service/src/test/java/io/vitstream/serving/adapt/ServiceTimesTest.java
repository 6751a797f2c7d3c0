package io.vitstream.serving.adapt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class ServiceTimesTest {
    @Test
    void anUnmeasuredRatioHasNoTime() {
        ServiceTimes t = new ServiceTimes();
        assertThat(t.batchMs(0.7, 32)).isNaN();
        assertThat(t.measured(0.7)).isFalse();
        assertThat(t.capacityPerS(0.7, 32, 2)).isNaN();
    }

    @Test
    void theFirstMeasuredBatchReplacesTheSeedAndLaterOnesAverage() {
        ServiceTimes t = new ServiceTimes();
        t.seed(0.7, 32, 32);
        assertThat(t.batchMs(0.7, 32)).isEqualTo(32.0);
        t.seed(0.7, 32, 1000); // a second seed changes nothing
        assertThat(t.batchMs(0.7, 32)).isEqualTo(32.0);
        t.observe(0.7, 32, 64);
        assertThat(t.batchMs(0.7, 32)).isEqualTo(64.0);
        t.observe(0.7, 32, 32);
        assertThat(t.batchMs(0.7, 32)).isCloseTo(64 + ServiceTimes.ALPHA * (32 - 64), within(1e-9));
        for (int i = 0; i < 200; i++) {
            t.observe(0.7, 32, 48);
        }
        assertThat(t.batchMs(0.7, 32)).isCloseTo(48, within(0.01));
        assertThat(t.capacityPerS(0.7, 32, 2)).isCloseTo(2 * 32 * 1000 / 48.0, within(0.1));
    }

    @Test
    void aRatioKnownOnlyFromItsSeedIsScaledByHowMuchSlowerServedBatchesRanThanTheirSeeds() {
        ServiceTimes t = new ServiceTimes();
        t.seed(1.0, 32, 32);
        t.seed(0.5, 32, 16);
        for (int i = 0; i < 300; i++) {
            t.observe(1.0, 32, 96); // the loaded machine runs 3x slower than at warm-up
        }
        assertThat(t.slowdown()).isCloseTo(3.0, within(0.01));
        assertThat(t.batchMs(1.0, 32)).isCloseTo(96.0, within(0.01));
        assertThat(t.batchMs(0.5, 32)).isCloseTo(48.0, within(0.2)); // seed 16 x 3
        t.observe(0.5, 32, 40); // measured now: its own figure
        assertThat(t.batchMs(0.5, 32)).isEqualTo(40.0);
    }

    @Test
    void aRatioServedAtOtherSizesIsScaledByItsOwnSlowdown() {
        ServiceTimes t = new ServiceTimes();
        t.seed(1.0, 1, 1);
        t.seed(1.0, 32, 8);
        t.seed(0.5, 32, 4);
        for (int i = 0; i < 300; i++) {
            t.observe(1.0, 1, 4); // served one image at a time, 4x its seed
            t.observe(0.5, 32, 4); // 0.5 runs as seeded
        }
        assertThat(t.batchMs(1.0, 32)).isCloseTo(32.0, within(0.1)); // its seed 8 x its own slowdown 4
    }

    @Test
    void anUnmeasuredBatchSizeBorrowsTheNearestSmallerMeasuredSizesTimePerImage() {
        ServiceTimes t = new ServiceTimes();
        t.observe(1.0, 4, 8); // 2 ms per image at 4
        t.observe(1.0, 32, 32); // 1 ms per image at 32
        assertThat(t.batchMs(1.0, 16)).isEqualTo(32.0); // 16 x 2 ms: from the size below, errs slow
        assertThat(t.batchMs(1.0, 64)).isEqualTo(64.0); // 64 x 1 ms
        assertThat(t.batchMs(1.0, 2)).isEqualTo(4.0); // nothing below: the nearest above
        assertThat(t.batchMs(1.0, 30)).isEqualTo(30.0); // same bucket as 32
    }

    @Test
    void ratiosAreKeptToTwoDecimals() {
        ServiceTimes t = new ServiceTimes();
        t.observe(0.7000000001, 8, 8);
        assertThat(t.measured(0.7)).isTrue();
        assertThat(ServiceTimes.bucket(1)).isEqualTo(1);
        assertThat(ServiceTimes.bucket(17)).isEqualTo(32);
        assertThat(ServiceTimes.bucket(32)).isEqualTo(32);
    }
}
