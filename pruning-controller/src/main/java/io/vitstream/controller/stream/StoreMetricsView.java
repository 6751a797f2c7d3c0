package io.vitstream.controller.stream;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Predicate;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.errors.InvalidStateStoreException;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.ReadOnlyWindowStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link MetricsView} read from the {@link MetricsTopology}'s stores: over a running {@link KafkaStreams} (interactive
 * queries, {@link #over(KafkaStreams)}) or over anything else that hands out the stores (a TopologyTestDriver).
 *
 * <p>Windows: "now" is the newest prediction timestamp the topology has seen ({@value MetricsTopology#CLOCK_STORE}),
 * and {@code recent(d)} merges the slices that start in (now - d, now]: the hopping window of size d (rounded up to
 * whole slices) that advances by one slice and ends with the current, still filling, slice. {@code labelledSince}
 * adds the slices from the one holding {@code since} on, so it may include up to one slice of predictions made just
 * before {@code since}. Nothing older than the settings' retention is seen. Interactive queries see the partitions of
 * this instance only: run one metrics instance per application id (the controller is one process).
 *
 * <p>While the stores cannot be queried (the app is starting, rebalancing or stopped) the figures are empty.
 */
public final class StoreMetricsView implements MetricsView {
    private static final Logger log = LoggerFactory.getLogger(StoreMetricsView.class);

    /** Hands out the topology's stores; each call may return a fresh handle. */
    interface StoreLookup {
        ReadOnlyWindowStore<SliceKey, SliceStats> slices();

        ReadOnlyKeyValueStore<String, Long> clock();
    }

    private final StoreLookup stores;
    private final long sliceMs;

    StoreMetricsView(StoreLookup stores, MetricsSettings settings) {
        this.stores = stores;
        this.sliceMs = settings.slice().toMillis();
    }

    /** The view over a running app built from {@link MetricsTopology#build(MetricsSettings)} with {@code settings}. */
    public static StoreMetricsView over(KafkaStreams streams, MetricsSettings settings) {
        return new StoreMetricsView(new StoreLookup() {
            @Override
            public ReadOnlyWindowStore<SliceKey, SliceStats> slices() {
                return streams.store(StoreQueryParameters.fromNameAndType(MetricsTopology.SLICES_STORE,
                        QueryableStoreTypes.windowStore()));
            }

            @Override
            public ReadOnlyKeyValueStore<String, Long> clock() {
                return streams.store(StoreQueryParameters.fromNameAndType(MetricsTopology.CLOCK_STORE,
                        QueryableStoreTypes.keyValueStore()));
            }
        }, settings);
    }

    @Override
    public Map<String, VersionStats> recent(Duration window) {
        return byVersion(recentSlices(window));
    }

    @Override
    public Map<String, Map<Double, VersionStats>> recentByKeepRatio(Duration window) {
        Map<String, Map<Double, VersionStats>> out = new TreeMap<>();
        recentSlices(window).forEach((key, stats) -> out.computeIfAbsent(key.version(), v -> new TreeMap<>())
                .put(key.keepRatio(), stats.view(key.version())));
        return out;
    }

    @Override
    public LabelledCount labelledSince(String version, Instant since) {
        Map<SliceKey, SliceStats> slices = merged(Math.floorDiv(since.toEpochMilli(), sliceMs) * sliceMs,
                Long.MAX_VALUE, k -> k.version().equals(version));
        long labelled = 0;
        long correct = 0;
        for (SliceStats s : slices.values()) {
            labelled += s.labelled();
            correct += s.correct();
        }
        return new LabelledCount(labelled, correct);
    }

    /** The newest prediction timestamp seen, or null before the first prediction (or while not queryable). */
    public Instant latest() {
        try (KeyValueIterator<String, Long> it = stores.clock().all()) {
            Long newest = null;
            while (it.hasNext()) {
                long t = it.next().value;
                newest = newest == null ? t : Math.max(newest, t);
            }
            return newest == null ? null : Instant.ofEpochMilli(newest);
        } catch (InvalidStateStoreException e) {
            log.debug("metrics stores not queryable now: {}", e.getMessage());
            return null;
        }
    }

    private Map<SliceKey, SliceStats> recentSlices(Duration window) {
        if (window == null || window.isZero() || window.isNegative()) {
            throw new IllegalArgumentException("window must be positive, got " + window);
        }
        Instant now = latest();
        if (now == null) {
            return Map.of();
        }
        long to = now.toEpochMilli();
        // From the slice holding now - d: the newest slice is still filling, so the merge covers at least d of
        // event time (between d and d + one slice), never just the partial newest slice.
        return merged(Math.max(0, Math.floorDiv(to - window.toMillis(), sliceMs) * sliceMs), to, k -> true);
    }

    /** The slices starting in [fromMs, toMs] whose key passes {@code keys}, merged per key. */
    private Map<SliceKey, SliceStats> merged(long fromMs, long toMs, Predicate<SliceKey> keys) {
        Map<SliceKey, SliceStats> out = new java.util.HashMap<>();
        try (KeyValueIterator<Windowed<SliceKey>, SliceStats> it = stores.slices()
                .fetchAll(Instant.ofEpochMilli(fromMs), Instant.ofEpochMilli(toMs))) {
            while (it.hasNext()) {
                KeyValue<Windowed<SliceKey>, SliceStats> kv = it.next();
                if (keys.test(kv.key.key())) {
                    out.merge(kv.key.key(), kv.value, SliceStats::merge);
                }
            }
        } catch (InvalidStateStoreException e) {
            log.debug("metrics stores not queryable now: {}", e.getMessage());
            return Map.of();
        }
        return out;
    }

    private static Map<String, VersionStats> byVersion(Map<SliceKey, SliceStats> slices) {
        Map<String, SliceStats> merged = new TreeMap<>();
        slices.forEach((key, stats) -> merged.merge(key.version(), stats, SliceStats::merge));
        Map<String, VersionStats> out = new TreeMap<>();
        merged.forEach((version, stats) -> out.put(version, stats.view(version)));
        return out;
    }
}
