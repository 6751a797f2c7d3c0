package io.vitstream.testkit;

import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.data.InputSpec;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.ModelRecords;
import io.vitstream.kafka.Publisher;
import io.vitstream.model.FlopCounter;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import io.vitstream.util.Seeds;
import java.nio.file.Path;
import java.security.KeyPair;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/** Tiny real model artifacts for every module's tests, their signed publication and activation on a real broker. */
public final class TestModels {
    public static final VitConfig TINY = VitConfig.uniform(28, 1, 7, 0, 16, 2, 2, 32, 10);
    public static final List<String> CLASSES = IntStream.range(0, 10).mapToObj(i -> "class-" + i).toList();

    private TestModels() {}

    /** A tiny model with random weights from {@code seed}, saved as an artifact in {@code root/version}. */
    public static Path tiny(Path root, String version, String parent, int seed) {
        Path dir = root.resolve(version);
        Seeds.seedAll(seed);
        try (VitModel model = VitModel.create(TINY)) {
            ModelArtifact.save(dir, model, new Manifest(Manifest.FORMAT_VERSION, version, parent, TINY, CLASSES,
                    InputSpec.fashionMnist(), FlopCounter.perImage(TINY), 0, null, null, Map.of("note", "test"),
                    null, "2026-11-28T00:00:00Z"));
        }
        return dir;
    }

    public static void publish(TestBroker broker, Path dir, KeyPair keys) {
        Publisher.publishModel(broker.clientConfig(), ModelRecords.fromArtifact(dir, keys.getPrivate(), 4096));
    }

    public static void activate(TestBroker broker, String version, double keepRatio) {
        Publisher.setControl(broker.clientConfig(), ControlMessage.active(version, keepRatio));
    }

    /**
     * Settings of a test worker on {@code broker} that accepts models signed for {@code publicKey}: no HTTP server,
     * small quick batches, fast heartbeats and group session timeouts, so tests see swaps and rebalances in seconds.
     */
    public static java.util.Map<String, String> workerSettings(TestBroker broker, String workerId, Path publicKey) {
        java.util.Map<String, String> s = new java.util.LinkedHashMap<>();
        s.put("bootstrap.servers", broker.bootstrapServers());
        s.put("worker.id", workerId);
        s.put("model.public.key", publicKey.toString());
        s.put("http.port", "-1");
        s.put("batch.max.size", "8");
        s.put("batch.max.wait.ms", "20");
        s.put("heartbeat.ms", "300");
        s.put("kafka.session.timeout.ms", "6000");
        s.put("kafka.heartbeat.interval.ms", "1000");
        return s;
    }
}
