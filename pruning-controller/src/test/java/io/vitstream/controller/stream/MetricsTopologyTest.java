package io.vitstream.controller.stream;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.controller.stream.MetricsView.LabelledCount;
import io.vitstream.controller.stream.MetricsView.VersionStats;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.ReadOnlyWindowStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The topology's figures for a scripted stream, through TopologyTestDriver and the same {@link StoreMetricsView} the
 * controller uses; every expected number is worked out by hand in the comments. Latency quantiles are nearest-rank
 * and compared within the histogram's 1% bound.
 */
class MetricsTopologyTest {
    private static final Instant T0 = Instant.parse("2026-11-28T10:00:00Z"); // a slice boundary
    private static final MetricsSettings SETTINGS = new MetricsSettings(Duration.ofSeconds(10), Duration.ofSeconds(60),
            Duration.ofSeconds(10), Duration.ofHours(1));

    @TempDir
    Path tmp;

    private TopologyTestDriver driver;
    private TestInputTopic<String, Prediction> predictions;
    private TestInputTopic<String, String> labels;
    private StoreMetricsView view;

    @BeforeEach
    void start() {
        driver = new TopologyTestDriver(MetricsTopology.build(SETTINGS),
                MetricsRunner.streamsConfig("unused:9092", "metrics-test", tmp, Map.of()), T0);
        predictions = driver.createInputTopic(Topics.PREDICTIONS, new StringSerializer(), Prediction.SERDE);
        labels = driver.createInputTopic(Topics.LABELS, new StringSerializer(), new StringSerializer());
        view = new StoreMetricsView(new StoreMetricsView.StoreLookup() {
            @Override
            public ReadOnlyWindowStore<SliceKey, SliceStats> slices() {
                return driver.getWindowStore(MetricsTopology.SLICES_STORE);
            }

            @Override
            public ReadOnlyKeyValueStore<String, Long> clock() {
                return driver.getKeyValueStore(MetricsTopology.CLOCK_STORE);
            }
        }, SETTINGS);
    }

    @AfterEach
    void stop() {
        driver.close();
    }

    @Test
    void accuracyLatencyAndTeacherAgreementEqualHandComputedFigures() {
        assertThat(view.recent(Duration.ofMinutes(5))).isEmpty();

        // v1 at keep 1.0: a1..a100, end-to-end k ms, at T0 + k * 150 ms (slices 0 and 10 s), class k % 10.
        for (int k = 1; k <= 100; k++) {
            Integer label = switch (k) {
                case 1, 4 -> k % 10; // header label, right
                case 2 -> 9; // header label, wrong
                default -> null;
            };
            Integer teacher = k == 1 ? 1 : null; // agrees
            predict("a" + k, "v1", 1.0, k % 10, k, label, teacher, T0.plusMillis(k * 150L));
        }
        label("b3", "2", T0.plusSeconds(12)); // arrives before its prediction (3 s before): joined
        // v1 at keep 0.7: b1..b6 at T0 + 13..18 s (slice 10 s), class 2.
        double[] bLatency = {20, 30, 200, 400, 600, 800};
        Integer[] bTeacher = {2, 5, null, null, null, null}; // b1 agrees, b2 does not
        for (int i = 1; i <= 6; i++) {
            predict("b" + i, "v1", 0.7, 2, bLatency[i - 1], null, bTeacher[i - 1], T0.plusSeconds(12 + i));
        }
        // v2 at keep 0.5: c1..c4 at T0 + 31..34 s (slice 30 s), class 7; c3 has a right header label, c4 a teacher.
        double[] cLatency = {5, 50, 500, 5000};
        for (int i = 1; i <= 4; i++) {
            predict("c" + i, "v2", 0.5, 7, cLatency[i - 1], i == 3 ? 7 : null, i == 4 ? 7 : null,
                    T0.plusSeconds(30 + i));
        }
        label("a3", "3", T0.plusSeconds(40)); // after its prediction, in the window: right
        label("a3", "5", T0.plusSeconds(45)); // a duplicate: not counted again
        label("a5", "seven", T0.plusSeconds(46)); // not an integer: skipped, the app goes on
        label("a4", " 0 ", T0.plusSeconds(50)); // a4 had a header label: not counted twice
        label("c1", "3", T0.plusSeconds(91)); // exactly 60 s after c1 (window edge, inclusive): wrong
        label("c2", "7", T0.plusSeconds(93)); // 61 s after c2: outside the join window, not counted
        predict("c5", "v2", 0.5, 7, 70, null, null, T0.plusSeconds(100)); // now = T0 + 100 s

        assertThat(view.latest()).isEqualTo(T0.plusSeconds(100));

        Map<String, VersionStats> all = view.recent(Duration.ofHours(1));
        assertThat(all).containsOnlyKeys("v1", "v2");
        // v1: latencies 1..100 plus 20, 30, 200, 400, 600, 800 (n = 106). p50: rank 53; 52 values are <= 50 (1..50,
        // 20, 30), so 51. p95: rank ceil(100.7) = 101; 101 values are <= 99, so 99. p99: rank ceil(104.94) = 105;
        // 102 values are <= 100, then 200, 400, 600: 600.
        // Labelled: a1 right, a2 wrong, a3 right (vit.labels), a4 right (header only), b3 right -> 5, 4 right.
        // Teacher: a1 agrees, b1 agrees, b2 does not -> 3 sampled, 2 agreed.
        expect(all.get("v1"), 106, 51, 99, 600, 5, 4, 3, 2);
        // v2: latencies 5, 50, 500, 5000, 70: p50 rank 3 -> 70; p95 rank 5 -> 5000; p99 rank 5 -> 5000.
        // Labelled: c1 wrong, c3 right (c2's label is outside the window) -> 2, 1 right. Teacher: c4 agrees.
        expect(all.get("v2"), 5, 70, 5000, 5000, 2, 1, 1, 1);
        assertThat(all.get("v1").accuracy()).isEqualTo(0.8);
        assertThat(all.get("v2").agreement()).isEqualTo(1.0);

        Map<String, Map<Double, VersionStats>> byRatio = view.recentByKeepRatio(Duration.ofHours(1));
        assertThat(byRatio.get("v1")).containsOnlyKeys(0.7, 1.0);
        // v1 at 1.0: 1..100: p50 50, p95 95, p99 99; labelled a1..a4 (3 right); teacher a1.
        expect(byRatio.get("v1").get(1.0), 100, 50, 95, 99, 4, 3, 1, 1);
        // v1 at 0.7: 20, 30, 200, 400, 600, 800: p50 rank 3 -> 200; p95 and p99 rank 6 -> 800; b3; b1, b2.
        expect(byRatio.get("v1").get(0.7), 6, 200, 800, 800, 1, 1, 2, 1);
        expect(byRatio.get("v2").get(0.5), 5, 70, 5000, 5000, 2, 1, 1, 1);

        // recent(d) merges the slices from the one holding now - d: 30 s -> slices 70 .. 100 s: c5 only.
        Map<String, VersionStats> last30s = view.recent(Duration.ofSeconds(30));
        assertThat(last30s).containsOnlyKeys("v2");
        expect(last30s.get("v2"), 1, 70, 70, 70, 0, 0, 0, 0);
        assertThat(view.recent(Duration.ofSeconds(60)).get("v2").predictions()).isEqualTo(1); // from slice 40 s
        assertThat(view.recent(Duration.ofSeconds(61)).get("v2").predictions()).isEqualTo(5); // slice 30 s holds now-61
        // A window shorter than a slice still sees the whole slice holding now - d, not only the part after it.
        assertThat(view.recent(Duration.ofSeconds(1)).get("v2").predictions()).isEqualTo(1);

        // labelledSince counts from the slice holding `since`.
        assertThat(view.labelledSince("v1", T0)).isEqualTo(new LabelledCount(5, 4));
        assertThat(view.labelledSince("v1", T0.plusSeconds(10))).isEqualTo(new LabelledCount(1, 1)); // b3 only
        assertThat(view.labelledSince("v2", T0.plusSeconds(35))).isEqualTo(new LabelledCount(2, 1)); // slice 30 s
        assertThat(view.labelledSince("v2", T0.plusSeconds(40))).isEqualTo(new LabelledCount(0, 0));
        assertThat(view.labelledSince("v9", T0)).isEqualTo(new LabelledCount(0, 0));
    }

    @Test
    void aLabelJoinedAfterItsPredictionsSliceClosedIsNotCounted() {
        // A slice takes records up to joinWindow + joinGrace (70 s) after its end: slice 0 s closes at 80 s.
        predict("x1", "v1", 1.0, 4, 10, null, null, T0.plusSeconds(1));
        predict("x2", "v1", 1.0, 4, 10, 4, null, T0.plusSeconds(85)); // labelled stream time: 85 s
        label("x1", "4", T0.plusSeconds(61)); // 60 s after x1 and within the join's grace: joined, but too late
        assertThat(view.labelledSince("v1", T0)).isEqualTo(new LabelledCount(1, 1)); // x2 only
        assertThat(view.recent(Duration.ofHours(1)).get("v1").predictions()).isEqualTo(2);
    }

    private void predict(String id, String version, double keepRatio, int classIndex, double endToEndMs,
            Integer label, Integer teacher, Instant at) {
        Prediction p = new Prediction(Prediction.SCHEMA, id, classIndex, "class-" + classIndex,
                List.of(new Prediction.TopK(classIndex, "class-" + classIndex, 0.9)), version, keepRatio,
                List.of(50, 35), 1_000_000, 0, 1, endToEndMs, "w1", at.toString(), label, teacher);
        predictions.pipeInput(id, p, at);
    }

    private void label(String id, String value, Instant at) {
        labels.pipeInput(id, value, at);
    }

    private static void expect(VersionStats s, long n, double p50, double p95, double p99, long labelled, long correct,
            long sampled, long agreed) {
        assertThat(s.predictions()).isEqualTo(n);
        assertThat(s.p50Ms()).as("p50").isCloseTo(p50, within(p50));
        assertThat(s.p95Ms()).as("p95").isCloseTo(p95, within(p95));
        assertThat(s.p99Ms()).as("p99").isCloseTo(p99, within(p99));
        assertThat(List.of(s.labelled(), s.correct(), s.teacherSampled(), s.teacherAgreed()))
                .as("labelled, correct, teacher sampled, agreed").containsExactly(labelled, correct, sampled, agreed);
    }

    /** The histogram's bound: 1% of the true value (plus float rounding). */
    private static org.assertj.core.data.Offset<Double> within(double exact) {
        return org.assertj.core.data.Offset.offset(exact * LatencyHistogram.RELATIVE_ERROR + 1e-9);
    }
}
