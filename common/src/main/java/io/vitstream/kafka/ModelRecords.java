package io.vitstream.kafka;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.signing.ModelSigning;
import io.vitstream.util.UserError;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * How a model version travels on the compacted {@link Topics#MODELS}: the weights file cut into chunks keyed
 * {@code <version>/<index>}, then the exact {@code manifest.json} bytes keyed {@code <version>/manifest} with headers
 * {@value #HEADER_SIGNATURE} (base64 Ed25519 over those bytes) and {@value #HEADER_CHUNKS} (chunk count). The
 * manifest pins the weights' size and sha256, so the signature covers everything. Published in one transaction, so a
 * read_committed reader sees a version whole or not at all.
 */
public final class ModelRecords {
    public static final String MANIFEST_SUFFIX = "/manifest";
    public static final String HEADER_SIGNATURE = "signature";
    public static final String HEADER_CHUNKS = "chunks";
    /** Below the topic's max.message.bytes (see {@link Topics}) with room for the record overhead. */
    public static final int DEFAULT_CHUNK_BYTES = 512 * 1024;

    private ModelRecords() {}

    /** Key of the manifest record of {@code version}. */
    public static String manifestKey(String version) {
        return version + MANIFEST_SUFFIX;
    }

    public static String chunkKey(String version, int index) {
        return version + "/" + index;
    }

    /**
     * Records of one version, chunks first and the manifest last.
     *
     * @param signature detached signature of {@code manifestJson}, or null to publish unsigned (workers refuse it)
     */
    public static List<ProducerRecord<String, byte[]>> records(
            String version, byte[] manifestJson, byte[] signature, byte[] weights, int chunkBytes) {
        if (chunkBytes < 1) {
            throw new IllegalArgumentException("chunk size must be positive, got " + chunkBytes);
        }
        List<ProducerRecord<String, byte[]>> out = new ArrayList<>();
        int chunks = Math.max(1, (weights.length + chunkBytes - 1) / chunkBytes);
        for (int i = 0; i < chunks; i++) {
            byte[] part = Arrays.copyOfRange(weights, i * chunkBytes, Math.min(weights.length, (i + 1) * chunkBytes));
            out.add(new ProducerRecord<>(Topics.MODELS, chunkKey(version, i), part));
        }
        RecordHeaders headers = new RecordHeaders();
        headers.add(HEADER_CHUNKS, Integer.toString(chunks).getBytes(StandardCharsets.US_ASCII));
        if (signature != null) {
            headers.add(HEADER_SIGNATURE, java.util.Base64.getEncoder().encode(signature));
        }
        out.add(new ProducerRecord<>(Topics.MODELS, null, manifestKey(version), manifestJson, headers));
        return out;
    }

    /**
     * Records for the artifact in {@code dir}, signed with {@code key} (also writes {@code dir/manifest.sig}).
     *
     * @return the version and the records
     */
    public static Publication fromArtifact(Path dir, PrivateKey key, int chunkBytes) {
        var manifest = ModelArtifact.readManifest(dir);
        try {
            byte[] json = Files.readAllBytes(dir.resolve(ModelArtifact.MANIFEST_FILE));
            byte[] weights = Files.readAllBytes(dir.resolve(manifest.weights().file()));
            if (!ModelArtifact.sha256(weights).equalsIgnoreCase(manifest.weights().sha256())) {
                throw new UserError(dir + ": the weights do not match the manifest's sha256; refusing to sign them");
            }
            byte[] sig = ModelSigning.signArtifact(dir, key);
            return new Publication(manifest.version(), records(manifest.version(), json, sig, weights, chunkBytes));
        } catch (IOException e) {
            throw new UserError("cannot read model artifact " + dir + ": " + e.getMessage(), e);
        }
    }

    public record Publication(String version, List<ProducerRecord<String, byte[]>> records) {}
}
