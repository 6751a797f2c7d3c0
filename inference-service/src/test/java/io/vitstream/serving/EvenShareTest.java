package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class EvenShareTest {
    private static List<Integer> picked(EvenShare s, double share, int events) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < events; i++) {
            if (s.next(share)) {
                out.add(i);
            }
        }
        return out;
    }

    @Test
    void aQuarterIsEveryFourthEvent() {
        assertThat(picked(new EvenShare(), 0.25, 12)).containsExactly(3, 7, 11);
    }

    @Test
    void noneAndAllAreExact() {
        assertThat(picked(new EvenShare(), 0, 100)).isEmpty();
        assertThat(picked(new EvenShare(), 1.0, 5)).containsExactly(0, 1, 2, 3, 4);
    }

    @Test
    void theShareHoldsOverTimeForAnUnevenShare() {
        // 3/8 is exact in binary: the count is exact, not within rounding.
        assertThat(picked(new EvenShare(), 0.375, 1000)).hasSize(375);
        assertThat(picked(new EvenShare(), 0.375, 8)).containsExactly(2, 5, 7);
    }

    @Test
    void creditCarriesOverWhenTheShareChanges() {
        EvenShare s = new EvenShare();
        assertThat(picked(s, 0.5, 1)).isEmpty(); // credit 0.5
        assertThat(s.next(0.5)).isTrue();
        assertThat(picked(s, 0.25, 1)).isEmpty(); // credit 0.25
        assertThat(picked(s, 0.5, 1)).isEmpty(); // credit 0.75
        assertThat(s.next(0.25)).isTrue();
    }
}
