package io.vitstream.controller;

import io.vitstream.artifact.Manifest;
import io.vitstream.controller.rollout.ControlPlane;
import io.vitstream.controller.state.ClusterView;
import io.vitstream.controller.state.StateWriter;
import io.vitstream.controller.stream.MetricsRuntime;
import io.vitstream.controller.stream.MetricsView;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.WorkerStatus;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;

/** In-memory stand-ins for the controller's collaborators: the cluster, vit.control, the state topic, metrics, time. */
final class Fakes {
    static final Instant T0 = Instant.parse("2026-11-28T10:00:00Z");

    private Fakes() {}

    /** A manifest that says only version and parent. */
    static Manifest manifest(String version, String parent) {
        return new Manifest(Manifest.FORMAT_VERSION, version, parent, null, List.of(), null, 1000, 10, null, null,
                Map.of(), null, T0.toString());
    }

    static WorkerStatus worker(String id, String version, double keep, WorkerStatus.Load load) {
        return new WorkerStatus(WorkerStatus.SCHEMA, id, "serving", version, null, version, keep, List.of(), null, 0,
                T0.toString(), load);
    }

    /** The compacted topics as the follower would have read them. */
    static final class Cluster implements ClusterView {
        volatile ControlMessage control;
        final Map<String, SeenWorker> workers = new ConcurrentHashMap<>();
        final Map<String, PublishedVersion> versions = new ConcurrentHashMap<>();
        volatile boolean healthy = true;

        Cluster publish(String version, String parent) {
            versions.put(version, new PublishedVersion(manifest(version, parent), true, T0.toEpochMilli()
                    + versions.size()));
            return this;
        }

        @Override
        public ControlMessage control() {
            return control;
        }

        @Override
        public ControlMessage awaitControl(Predicate<ControlMessage> condition, Duration timeout) {
            if (!condition.test(control)) {
                throw new IllegalStateException("vit.control did not show the expected record (last seen: " + control
                        + ")");
            }
            return control;
        }

        @Override
        public Map<String, SeenWorker> workers() {
            return Map.copyOf(workers);
        }

        @Override
        public Map<String, PublishedVersion> versions() {
            return Map.copyOf(versions);
        }

        @Override
        public boolean healthy() {
            return healthy;
        }
    }

    /** vit.control on {@link Cluster}: every write is read back at once and kept in {@link #writes}. */
    static final class Plane implements ControlPlane {
        final Cluster cluster;
        final List<ControlMessage> writes = new ArrayList<>();
        final Map<String, WorkerStatus> live = new TreeMap<>();
        volatile RuntimeException failure;
        volatile String problem;

        Plane(Cluster cluster) {
            this.cluster = cluster;
        }

        @Override
        public ControlMessage control() {
            return cluster.control;
        }

        @Override
        public void setControl(ControlMessage next) {
            String p = next.problem();
            if (p != null) {
                throw new IllegalArgumentException(p);
            }
            if (failure != null) {
                throw failure;
            }
            writes.add(next);
            cluster.control = next;
        }

        @Override
        public Map<String, WorkerStatus> liveWorkers() {
            return Map.copyOf(live);
        }

        @Override
        public String problem() {
            return problem;
        }
    }

    /** The controller's state topic: the latest value per key. */
    static final class State implements StateWriter {
        final Map<String, Object> records = new LinkedHashMap<>();

        @Override
        public synchronized void put(String key, Object value) {
            records.put(key, value);
        }
    }

    /** Metrics with figures the test sets. */
    static final class Metrics implements MetricsRuntime, MetricsView {
        volatile Map<String, VersionStats> recent = Map.of();
        volatile Map<String, Map<Double, VersionStats>> byKeep = Map.of();
        volatile Instant latest;

        @Override
        public MetricsView view() {
            return this;
        }

        @Override
        public Instant latest() {
            return latest;
        }

        @Override
        public Map<String, VersionStats> recent(Duration window) {
            return recent;
        }

        @Override
        public Map<String, Map<Double, VersionStats>> recentByKeepRatio(Duration window) {
            return byKeep;
        }

        @Override
        public LabelledCount labelledSince(String version, Instant since) {
            return new LabelledCount(0, 0);
        }
    }

    /** A clock the test moves. */
    static final class MutableClock extends Clock {
        volatile Instant now = T0;

        void advance(Duration d) {
            now = now.plus(d);
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    /** Controller settings that parse without a broker (nothing connects). */
    static ControllerConfig config(java.nio.file.Path workDir, Map<String, String> extra) {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("bootstrap.servers", "127.0.0.1:9");
        s.put("admin.insecure", "true");
        s.put("work.dir", workDir.toString());
        s.putAll(extra);
        return ControllerConfig.parse(s);
    }
}
