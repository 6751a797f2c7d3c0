package io.vitstream.controller.stream;

import io.vitstream.kafka.JsonSerde;
import io.vitstream.kafka.Labels;
import io.vitstream.kafka.Prediction;
import io.vitstream.kafka.Topics;
import java.time.Duration;
import java.time.Instant;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The controller's metrics, computed by Kafka Streams from {@code vit.predictions} and {@code vit.labels}: per model
 * version and keep ratio, per time slice ({@link MetricsSettings#slice()}), the prediction count, an end-to-end latency
 * histogram ({@link LatencyHistogram}, quantiles within 1%), labelled and correct counts, and dense-teacher sampled
 * and agreed counts. {@link StoreMetricsView} merges slices into hopping windows and keep ratios into versions.
 *
 * <p>Labels: a prediction carrying {@code label} (its image's header) counts directly; the others are joined with
 * {@code vit.labels} by request id when the label's timestamp is within {@link MetricsSettings#joinWindow()} of the
 * prediction's, before or after. Only the first label record joined to a prediction counts (later duplicates are
 * dropped), a header-labelled prediction never joins, and a label outside the window is not counted. A labelled
 * prediction is counted in the slice of the prediction's timestamp.
 *
 * <p>State stores (each with its changelog topic {@code <application.id>-<store>-changelog}, Kafka Streams' default):
 * <ul>
 *   <li>{@value #SLICES_STORE}: window store, {@link SliceKey} -> {@link SliceStats} (JSON), tumbling windows of one
 *       slice, kept for {@link MetricsSettings#retention()}; read by {@link StoreMetricsView}.
 *   <li>{@value #CLOCK_STORE}: key-value store, input partition -> newest prediction timestamp seen on it (the event
 *       time "now" of {@code MetricsView.recent}).
 *   <li>{@value #JOIN_STORE}{@code -this-join-store} and {@code -other-join-store}: the predictions without a header
 *       label and the labels, kept for the join window.
 *   <li>{@value #LABELLED_IDS_STORE}: window store of the request ids already counted as labelled (duplicate labels).
 * </ul>
 * Repartition topics (by version and keep ratio): {@code <application.id>-}{@value #FACTS_BY_KEY}{@code -repartition}
 * and {@code <application.id>-}{@value #OUTCOMES_BY_KEY}{@code -repartition}. Every processor is named, so these names
 * stay when the topology changes.
 */
public final class MetricsTopology {
    private static final Logger log = LoggerFactory.getLogger(MetricsTopology.class);

    public static final String SLICES_STORE = "metrics-slices";
    public static final String CLOCK_STORE = "metrics-clock";
    public static final String JOIN_STORE = "metrics-label-join";
    public static final String LABELLED_IDS_STORE = "metrics-labelled-ids";
    static final String FACTS_BY_KEY = "metrics-predictions-by-version";
    static final String OUTCOMES_BY_KEY = "metrics-labelled-by-version";

    static final JsonSerde<SliceKey> SLICE_KEY_SERDE = JsonSerde.of(SliceKey.class);
    static final JsonSerde<SliceStats> SLICE_STATS_SERDE = JsonSerde.of(SliceStats.class);
    private static final JsonSerde<PredictionFact> FACT_SERDE = JsonSerde.of(PredictionFact.class);
    private static final JsonSerde<LabelledOutcome> OUTCOME_SERDE = JsonSerde.of(LabelledOutcome.class);

    private MetricsTopology() {}

    /** The topology; starts nothing. */
    public static Topology build(MetricsSettings settings) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(CLOCK_STORE),
                Serdes.String(), Serdes.Long()));
        // A duplicate label arrives at most joinWindow + joinGrace after its prediction's time; keep ids twice that.
        Duration idsKept = settings.lateness().multipliedBy(2);
        builder.addStateStore(Stores.windowStoreBuilder(
                Stores.persistentWindowStore(LABELLED_IDS_STORE, idsKept, Duration.ofMillis(1), false),
                Serdes.String(), Serdes.Long()));

        KStream<String, PredictionFact> facts = builder
                .stream(Topics.PREDICTIONS,
                        Consumed.with(Serdes.String(), Prediction.SERDE).withName("metrics-predictions"))
                .processValues(ToFact::new, Named.as("metrics-prediction-facts"), CLOCK_STORE);
        KStream<String, Integer> labels = builder
                .stream(Topics.LABELS, Consumed.with(Serdes.String(), Labels.SERDE).withName("metrics-labels"));

        KStream<String, LabelledOutcome> headerLabelled = facts
                .filter((id, f) -> f.label() != null, Named.as("metrics-header-labelled"))
                .mapValues(f -> f.outcome(f.label()), Named.as("metrics-header-outcomes"));
        KStream<String, LabelledOutcome> joinLabelled = facts
                .filter((id, f) -> f.label() == null, Named.as("metrics-unlabelled"))
                .join(labels, PredictionFact::outcome,
                        JoinWindows.ofTimeDifferenceAndGrace(settings.joinWindow(), settings.joinGrace()),
                        StreamJoined.with(Serdes.String(), FACT_SERDE, Labels.SERDE)
                                .withName(JOIN_STORE).withStoreName(JOIN_STORE))
                .processValues(FirstLabelOnly::new, Named.as("metrics-first-label-only"), LABELLED_IDS_STORE);

        KGroupedStream<SliceKey, PredictionFact> factsByKey = facts.groupBy((id, f) -> f.sliceKey(),
                Grouped.with(FACTS_BY_KEY, SLICE_KEY_SERDE, FACT_SERDE));
        KGroupedStream<SliceKey, LabelledOutcome> outcomesByKey = headerLabelled
                .merge(joinLabelled, Named.as("metrics-labelled"))
                .groupBy((id, o) -> o.sliceKey(), Grouped.with(OUTCOMES_BY_KEY, SLICE_KEY_SERDE, OUTCOME_SERDE));

        factsByKey.<SliceStats>cogroup((k, f, stats) -> stats.withPrediction(f))
                .cogroup(outcomesByKey, (k, o, stats) -> stats.withOutcome(o))
                .windowedBy(TimeWindows.ofSizeAndGrace(settings.slice(), settings.lateness()))
                .aggregate(() -> SliceStats.EMPTY, Named.as("metrics-slice-aggregate"),
                        Materialized.<SliceKey, SliceStats, WindowStore<Bytes, byte[]>>as(SLICES_STORE)
                                .withKeySerde(SLICE_KEY_SERDE).withValueSerde(SLICE_STATS_SERDE)
                                .withRetention(settings.retention()));
        return builder.build();
    }

    /** Prediction -> {@link PredictionFact}, and the newest prediction timestamp of this partition in the clock. */
    private static final class ToFact implements FixedKeyProcessor<String, Prediction, PredictionFact> {
        private FixedKeyProcessorContext<String, PredictionFact> context;
        private KeyValueStore<String, Long> clock;

        @Override
        public void init(FixedKeyProcessorContext<String, PredictionFact> context) {
            this.context = context;
            this.clock = context.getStateStore(CLOCK_STORE);
        }

        @Override
        public void process(FixedKeyRecord<String, Prediction> record) {
            Prediction p = record.value();
            if (p == null || p.modelVersion() == null) {
                log.warn("skipping a prediction without model_version (key {})", record.key());
                return;
            }
            String partition = context.recordMetadata().map(m -> Integer.toString(m.partition())).orElse("-");
            Long newest = clock.get(partition);
            if (newest == null || record.timestamp() > newest) {
                clock.put(partition, record.timestamp());
            }
            context.forward(record.withValue(PredictionFact.of(p, record.timestamp())));
        }
    }

    /**
     * Passes the first joined label of each prediction, timestamped at the prediction (so it is counted in the
     * prediction's slice), and drops the later ones: every label record on vit.labels for the same request id joins.
     */
    private static final class FirstLabelOnly implements FixedKeyProcessor<String, LabelledOutcome, LabelledOutcome> {
        private FixedKeyProcessorContext<String, LabelledOutcome> context;
        private WindowStore<String, Long> counted;

        @Override
        public void init(FixedKeyProcessorContext<String, LabelledOutcome> context) {
            this.context = context;
            this.counted = context.getStateStore(LABELLED_IDS_STORE);
        }

        @Override
        public void process(FixedKeyRecord<String, LabelledOutcome> record) {
            long at = record.value().predictionTimestampMs();
            try (WindowStoreIterator<Long> seen = counted.fetch(record.key(), Instant.ofEpochMilli(at),
                    Instant.ofEpochMilli(at))) {
                if (seen.hasNext()) {
                    return;
                }
            }
            counted.put(record.key(), at, at);
            context.forward(record.withTimestamp(at));
        }
    }
}
