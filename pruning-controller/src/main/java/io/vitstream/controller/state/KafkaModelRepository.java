package io.vitstream.controller.state;

import io.vitstream.controller.rollout.ModelFetcher;
import io.vitstream.kafka.ModelRecords;
import io.vitstream.kafka.Publisher;
import io.vitstream.kafka.Topics;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.time.Duration;
import java.util.Map;

/**
 * {@link ModelRepository} on the compacted vit.models: parents fetched and checked against {@code publicKey}, new
 * versions signed with {@code signingKey}, published in one transaction and awaited on the follower.
 */
public final class KafkaModelRepository implements ModelRepository {
    private final Map<String, Object> client;
    private final PrivateKey signingKey;
    private final PublicKey publicKey;
    private final ClusterView cluster;
    private final Duration visible;

    /**
     * @param signingKey null: nothing can be published
     * @param publicKey null: fetched parents are not checked for a signature
     */
    public KafkaModelRepository(Map<String, Object> clientSettings, PrivateKey signingKey, PublicKey publicKey,
            ClusterView cluster, Duration visible) {
        this.client = Map.copyOf(clientSettings);
        this.signingKey = signingKey;
        this.publicKey = publicKey;
        this.cluster = cluster;
        this.visible = visible;
    }

    @Override
    public String cannotPublish() {
        return signingKey == null ? "no signing.private.key is configured, so a re-pruned version could not be"
                + " published" : null;
    }

    @Override
    public void fetch(String version, Path dir) {
        ModelFetcher.fetch(client, version, dir, publicKey);
    }

    @Override
    public String publish(Path dir) {
        ModelRecords.Publication pub = ModelRecords.fromArtifact(dir, signingKey, ModelRecords.DEFAULT_CHUNK_BYTES);
        Publisher.publishModel(client, pub);
        long deadline = System.nanoTime() + visible.toNanos();
        while (!cluster.versions().containsKey(pub.version())) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(pub.version() + " was published but not read back from "
                        + Topics.MODELS + " within " + visible.toSeconds() + " s");
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
        }
        return pub.version();
    }
}
