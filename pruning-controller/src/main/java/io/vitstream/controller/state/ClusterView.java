package io.vitstream.controller.state;

import io.vitstream.artifact.Manifest;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.WorkerStatus;
import java.time.Duration;
import java.util.Map;
import java.util.function.Predicate;

/**
 * What the controller knows of the cluster from its compacted topics: {@link ClusterFollower} in production, a plain
 * fake in unit tests.
 */
public interface ClusterView {
    /** A worker's latest heartbeat and when it was sent (the record's timestamp, epoch ms). */
    record SeenWorker(WorkerStatus status, long heartbeatMs) {}

    /** A version published on vit.models: its manifest, whether it carries a signature, when it was published. */
    record PublishedVersion(Manifest manifest, boolean signed, long publishedMs) {}

    /** The desired state on vit.control, or null when nothing was ever set. */
    ControlMessage control();

    /** Waits until the control record satisfies {@code condition} (for instance: a write of ours has been read). */
    ControlMessage awaitControl(Predicate<ControlMessage> condition, Duration timeout) throws InterruptedException;

    /** Every worker's latest heartbeat, live or not, by worker id. */
    Map<String, SeenWorker> workers();

    Map<String, PublishedVersion> versions();

    /** Still following (false after a fatal error or close). */
    boolean healthy();

    /** The parent of {@code version} when both are published on vit.models (a rollback target), else null. */
    default String publishedParent(String version) {
        Map<String, PublishedVersion> all = versions();
        PublishedVersion v = all.get(version);
        String parent = v == null ? null : v.manifest().parentVersion();
        return parent != null && all.containsKey(parent) ? parent : null;
    }
}
