package io.vitstream.controller.rollout;

import io.vitstream.artifact.Manifest;
import io.vitstream.artifact.ModelArtifact;
import io.vitstream.kafka.ModelRecords;
import io.vitstream.kafka.Topics;
import io.vitstream.signing.ModelSigning;
import io.vitstream.util.Json;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PublicKey;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Rebuilds a version's artifact directory from the compacted {@code vit.models} topic (manifest record plus weight
 * chunks, see {@link ModelRecords}): the parent of a re-prune is whatever is active, wherever it was published from,
 * so the controller needs no shared disk. Checks what a worker checks: chunk count, size and sha256 of the weights
 * against the manifest, and the Ed25519 signature when a public key is given.
 */
public final class ModelFetcher {
    private ModelFetcher() {}

    /**
     * Writes {@code version} to {@code dir} ({@code manifest.json}, the weights, {@code manifest.sig}) unless a
     * complete copy is there already; returns {@code dir}.
     */
    public static Path fetch(Map<String, Object> clientSettings, String version, Path dir, PublicKey key) {
        if (Files.isRegularFile(dir.resolve(ModelArtifact.MANIFEST_FILE))) {
            try {
                Manifest m = ModelArtifact.readManifest(dir);
                byte[] w = Files.readAllBytes(dir.resolve(m.weights().file()));
                if (version.equals(m.version()) && ModelArtifact.sha256(w).equalsIgnoreCase(m.weights().sha256())) {
                    return dir;
                }
            } catch (IOException | RuntimeException e) {
                // Incomplete or stale copy: fetch again below.
            }
        }
        Map<String, Object> c = Topics.compactedReader(clientSettings, "vitstream-controller-fetch");
        byte[] manifestJson = null;
        byte[] signature = null;
        int chunks = -1;
        Map<Integer, byte[]> parts = new TreeMap<>();
        String prefix = version + "/";
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(c, new StringDeserializer(),
                new ByteArrayDeserializer())) {
            List<TopicPartition> tps = consumer.partitionsFor(Topics.MODELS, Duration.ofSeconds(30)).stream()
                    .map(p -> new TopicPartition(Topics.MODELS, p.partition())).toList();
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            Map<TopicPartition, Long> ends = consumer.endOffsets(tps);
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (ends.entrySet().stream().anyMatch(e -> consumer.position(e.getKey()) < e.getValue())) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("could not read " + Topics.MODELS + " within 60 s");
                }
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    if (r.key() == null || !r.key().startsWith(prefix)) {
                        continue;
                    }
                    String rest = r.key().substring(prefix.length());
                    if (rest.equals("manifest")) {
                        manifestJson = r.value();
                        Header sig = r.headers().lastHeader(ModelRecords.HEADER_SIGNATURE);
                        signature = sig == null ? null : Base64.getDecoder().decode(sig.value());
                        Header n = r.headers().lastHeader(ModelRecords.HEADER_CHUNKS);
                        chunks = n == null ? -1 : Integer.parseInt(new String(n.value(), StandardCharsets.US_ASCII));
                    } else if (rest.matches("\\d+")) {
                        parts.put(Integer.parseInt(rest), r.value());
                    }
                }
            }
        }
        if (manifestJson == null) {
            throw new IllegalArgumentException("version " + version + " is not on " + Topics.MODELS);
        }
        if (key != null && !ModelSigning.verify(manifestJson, signature, key)) {
            throw new IllegalArgumentException("version " + version + " on " + Topics.MODELS
                    + (signature == null ? " is unsigned" : " has a bad signature"));
        }
        Manifest m;
        try {
            m = Json.MAPPER.readValue(manifestJson, Manifest.class);
        } catch (IOException e) {
            throw new IllegalArgumentException("version " + version + ": unreadable manifest: " + e.getMessage(), e);
        }
        if (!version.equals(m.version())) {
            throw new IllegalArgumentException("version " + version + " on " + Topics.MODELS + ": its manifest says "
                    + m.version());
        }
        if (m.weights() == null || m.weights().file() == null
                || !m.weights().file().matches("[A-Za-z0-9][A-Za-z0-9._-]*")) {
            throw new IllegalArgumentException("version " + version + ": weights file name must be a bare file name, got "
                    + (m.weights() == null ? null : m.weights().file()));
        }
        if (chunks < 1 || parts.size() != chunks || !parts.containsKey(chunks - 1)) {
            throw new IllegalArgumentException("version " + version + ": " + parts.size() + " weight chunks on "
                    + Topics.MODELS + ", the manifest record says " + chunks);
        }
        ByteArrayOutputStream weights = new ByteArrayOutputStream();
        for (int i = 0; i < chunks; i++) {
            weights.writeBytes(parts.get(i));
        }
        byte[] w = weights.toByteArray();
        if (w.length != m.weights().sizeBytes() || !ModelArtifact.sha256(w).equalsIgnoreCase(m.weights().sha256())) {
            throw new IllegalArgumentException("version " + version + ": the weights on " + Topics.MODELS
                    + " do not match the manifest's size and sha256");
        }
        try {
            Files.createDirectories(dir);
            Files.write(dir.resolve(m.weights().file()), w);
            Files.write(dir.resolve(ModelArtifact.MANIFEST_FILE), manifestJson);
            if (signature != null) {
                Files.writeString(dir.resolve(ModelSigning.SIGNATURE_FILE),
                        Base64.getEncoder().encodeToString(signature) + "\n");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + version + " to " + dir + ": " + e.getMessage(), e);
        }
        return dir;
    }
}
