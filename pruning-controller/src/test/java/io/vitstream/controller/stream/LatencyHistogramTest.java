package io.vitstream.controller.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.kafka.JsonSerde;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class LatencyHistogramTest {
    @Test
    void quantilesAreWithinOnePercentOfTheExactNearestRankValues() {
        Random random = new Random(7);
        double[] values = new double[5000];
        LatencyHistogram h = LatencyHistogram.EMPTY;
        for (int i = 0; i < values.length; i++) {
            values[i] = Math.exp(random.nextDouble() * Math.log(1e6)) * 0.05; // 0.05 ms .. 50 s, log-uniform
            h = h.plus(values[i]);
        }
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        for (double q : new double[] {0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0}) {
            double exact = sorted[(int) Math.ceil(q * sorted.length - 1e-9) - 1];
            assertThat(h.quantile(q)).as("q=" + q)
                    .isCloseTo(exact, org.assertj.core.data.Offset.offset(exact * LatencyHistogram.RELATIVE_ERROR));
        }
    }

    @Test
    void mergingEqualsAddingEveryValueToOneHistogram() {
        LatencyHistogram a = LatencyHistogram.EMPTY.plus(1).plus(2).plus(0);
        LatencyHistogram b = LatencyHistogram.EMPTY.plus(2).plus(300).plus(Double.NaN);
        LatencyHistogram all = LatencyHistogram.EMPTY.plus(1).plus(2).plus(0).plus(2).plus(300);
        assertThat(a.merge(b)).isEqualTo(all);
        assertThat(all.count()).isEqualTo(5);
        assertThat(all.quantile(0.2)).isZero(); // the 0 ms value
        assertThat(LatencyHistogram.EMPTY.quantile(0.5)).isNaN();
        assertThatThrownBy(() -> all.quantile(0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void storesAsJsonAndBack() {
        JsonSerde<SliceStats> serde = MetricsTopology.SLICE_STATS_SERDE;
        SliceStats s = SliceStats.EMPTY.withPrediction(new PredictionFact("v1", 0.7, 3, 3, 12.5, 4, 1000))
                .withOutcome(new LabelledOutcome("v1", 0.7, true, 1000));
        assertThat(serde.parse(serde.serialize("t", s))).isEqualTo(s);
    }
}
