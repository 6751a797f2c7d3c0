package io.vitstream.artifact;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import io.vitstream.engine.EngineOptions;
import io.vitstream.engine.InferenceEngine;
import io.vitstream.engine.factory.Engines;
import io.vitstream.model.FlopCounter;
import io.vitstream.model.VitModel;
import io.vitstream.util.Json;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * A model on disk: a directory with {@code manifest.json} and {@code weights.ndlist} (DJL's NDList encoding, one
 * named array per parameter). Loading checks the format version, the weights' size and sha256, and every weight's
 * name and shape against the architecture in the manifest.
 */
public final class ModelArtifact {
    public static final String MANIFEST_FILE = "manifest.json";
    public static final String WEIGHTS_FILE = "weights.ndlist";

    private ModelArtifact() {}

    /** A loaded artifact; closing it frees the model. */
    public record Loaded(Manifest manifest, VitModel model, Path dir) implements AutoCloseable {
        /**
         * An inference engine over this verified model. ONNX Runtime's gets its graphs written from copies of the
         * weights made here; PyTorch's runs {@link #model()}, which this artifact keeps and closes.
         *
         * @throws io.vitstream.engine.onnx.UnsupportedModelException when the model has a part the ONNX writer does
         *     not know (never a silent fall-back to PyTorch)
         */
        public InferenceEngine engine(EngineOptions options) {
            return Engines.open(model, options);
        }

        @Override
        public void close() {
            model.close();
        }
    }

    /**
     * Writes {@code model} to {@code dir} (created if needed); fills in the weights info, FLOPs and parameter count of
     * {@code manifest} and returns the manifest written. Files are written to temporaries and moved into place, so a
     * crash never leaves a manifest that points at half-written weights.
     */
    public static Manifest save(Path dir, VitModel model, Manifest manifest) {
        try {
            Files.createDirectories(dir);
            byte[] weights;
            try (NDManager scope = model.djlModel().getNDManager().newSubManager()) {
                weights = model.exportWeights(scope).encode();
            }
            Manifest full = new Manifest(Manifest.FORMAT_VERSION, manifest.version(), manifest.parentVersion(),
                    model.config(), manifest.classNames(), manifest.input(), FlopCounter.perImage(model.config()),
                    model.parameterCount(), manifest.testAccuracy(), manifest.validationAccuracy(),
                    manifest.training(), new Manifest.WeightsInfo(WEIGHTS_FILE, weights.length, sha256(weights)),
                    manifest.createdAt(), model.network().sparsifier());
            writeAtomically(dir.resolve(WEIGHTS_FILE), weights);
            writeManifest(dir, full);
            return full;
        } catch (IOException e) {
            throw new ArtifactException("cannot write model artifact to " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Rewrites only the manifest (for example to record a measured accuracy); the weights must be unchanged. */
    public static void writeManifest(Path dir, Manifest manifest) throws IOException {
        byte[] json = Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(manifest);
        writeAtomically(dir.resolve(MANIFEST_FILE), json);
    }

    /** Reads and validates {@code manifest.json} without touching the weights. */
    public static Manifest readManifest(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new ArtifactException("model directory not found: " + dir);
        }
        Path file = dir.resolve(MANIFEST_FILE);
        if (!Files.isRegularFile(file)) {
            throw new ArtifactException(file + ": missing (is " + dir + " a model directory?)");
        }
        JsonNode tree;
        try {
            tree = Json.MAPPER.readTree(file.toFile());
        } catch (IOException e) {
            throw new ArtifactException(file + ": not valid JSON: " + firstLine(e.getMessage()), e);
        }
        if (tree == null || !tree.isObject()) {
            throw new ArtifactException(file + ": not a JSON object");
        }
        JsonNode fv = tree.get("format_version");
        if (fv == null || !fv.isInt()) {
            throw new ArtifactException(file + ": no integer format_version");
        }
        if (fv.intValue() != Manifest.FORMAT_VERSION) {
            throw new ArtifactException(file + ": unknown format_version " + fv.intValue() + " (this build reads "
                    + Manifest.FORMAT_VERSION + ")");
        }
        Manifest m;
        try {
            m = Json.MAPPER.treeToValue(tree, Manifest.class);
        } catch (IOException | IllegalArgumentException e) {
            throw new ArtifactException(file + ": invalid manifest: " + firstLine(e.getMessage()), e);
        }
        if (m.architecture() == null || m.weights() == null || m.weights().sha256() == null || m.input() == null
                || m.classNames() == null || m.version() == null) {
            throw new ArtifactException(
                    file + ": incomplete manifest (needs version, architecture, class_names, input, weights)");
        }
        if (m.classNames().size() != m.architecture().numClasses()) {
            throw new ArtifactException(file + ": " + m.classNames().size() + " class names for "
                    + m.architecture().numClasses() + " classes");
        }
        return m;
    }

    /** Loads and verifies an artifact on the engine's default device. */
    public static Loaded load(Path dir) {
        return load(dir, null);
    }

    /** Loads and verifies an artifact on {@code device} (null: the engine's default). */
    public static Loaded load(Path dir, ai.djl.Device device) {
        Manifest m = readManifest(dir);
        Path weightsFile = dir.resolve(m.weights().file());
        byte[] weights;
        try {
            weights = Files.readAllBytes(weightsFile);
        } catch (IOException e) {
            throw new ArtifactException(weightsFile + ": cannot read weights: " + e.getMessage(), e);
        }
        if (weights.length != m.weights().sizeBytes()) {
            throw new ArtifactException(weightsFile + ": size " + weights.length + " bytes, manifest says "
                    + m.weights().sizeBytes());
        }
        String actual = sha256(weights);
        if (!actual.equalsIgnoreCase(m.weights().sha256())) {
            throw new ArtifactException(weightsFile + ": sha256 mismatch (manifest " + m.weights().sha256()
                    + ", file " + actual + "): the weights are corrupt or belong to another manifest");
        }
        VitModel model;
        try {
            model = VitModel.create(m.architecture(), m.sparsifier(), false, device);
        } catch (IllegalArgumentException e) {
            throw new ArtifactException(dir.resolve(MANIFEST_FILE) + ": " + e.getMessage(), e);
        }
        try (NDManager scope = model.djlModel().getNDManager().newSubManager()) {
            NDList list = NDList.decode(scope, new ByteArrayInputStream(weights));
            model.importWeights(list, weightsFile.toString());
        } catch (RuntimeException e) {
            model.close();
            if (e instanceof ArtifactException) {
                throw e;
            }
            throw new ArtifactException(firstLine(e.getMessage()), e);
        }
        return new Loaded(m, model, dir);
    }

    public static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every Java runtime", e);
        }
    }

    private static void writeAtomically(Path target, byte[] data) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        Files.write(tmp, data);
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "unknown error";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
