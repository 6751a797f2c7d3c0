package io.vitstream.signing;

import io.vitstream.util.UserError;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;

/**
 * Ed25519 signatures of model manifests, with the JDK's own provider (no extra dependency).
 *
 * <p>The signature is detached: it covers the exact bytes of {@code manifest.json} and travels beside them (file
 * {@code manifest.sig} in an artifact directory, header {@code signature} of the manifest record on
 * {@code vit.models}). The manifest pins the weights by size and sha256, so one signature covers the whole model;
 * keeping it outside the manifest avoids canonicalising JSON before verifying.
 *
 * <p>Keys are standard PEM files (PKCS#8 private, X.509 SubjectPublicKeyInfo public), readable by openssl.
 */
public final class ModelSigning {
    public static final String ALGORITHM = "Ed25519";
    public static final String SIGNATURE_FILE = "manifest.sig";
    public static final String PRIVATE_KEY_FILE = "vitstream-ed25519.key";
    public static final String PUBLIC_KEY_FILE = "vitstream-ed25519.pub";

    private ModelSigning() {}

    public static KeyPair generate() {
        try {
            return KeyPairGenerator.getInstance(ALGORITHM).generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("Ed25519 is part of every Java 17 runtime", e);
        }
    }

    /** Writes {@link #PRIVATE_KEY_FILE} (owner-only) and {@link #PUBLIC_KEY_FILE} into {@code dir}. */
    public static void writeKeyPair(KeyPair pair, Path dir) throws IOException {
        Files.createDirectories(dir);
        Path priv = dir.resolve(PRIVATE_KEY_FILE);
        if (Files.exists(priv)) {
            throw new UserError(priv + " exists already; refusing to overwrite a private key");
        }
        Files.writeString(priv, pem("PRIVATE KEY", pair.getPrivate().getEncoded()));
        try {
            Files.setPosixFilePermissions(priv, PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException ignored) {
            // Not a POSIX file system: the file stays with the default permissions.
        }
        Files.writeString(dir.resolve(PUBLIC_KEY_FILE), pem("PUBLIC KEY", pair.getPublic().getEncoded()));
    }

    public static PrivateKey readPrivateKey(Path file) {
        byte[] der = readPem(file, "PRIVATE KEY");
        try {
            return KeyFactory.getInstance(ALGORITHM).generatePrivate(new PKCS8EncodedKeySpec(der));
        } catch (GeneralSecurityException e) {
            throw new UserError(file + ": not an Ed25519 private key (" + e.getMessage() + ")", e);
        }
    }

    public static PublicKey readPublicKey(Path file) {
        byte[] der = readPem(file, "PUBLIC KEY");
        try {
            return KeyFactory.getInstance(ALGORITHM).generatePublic(new X509EncodedKeySpec(der));
        } catch (GeneralSecurityException e) {
            throw new UserError(file + ": not an Ed25519 public key (" + e.getMessage() + ")", e);
        }
    }

    public static byte[] sign(byte[] data, PrivateKey key) {
        try {
            Signature s = Signature.getInstance(ALGORITHM);
            s.initSign(key);
            s.update(data);
            return s.sign();
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("cannot sign with this key: " + e.getMessage(), e);
        }
    }

    /** True only for a valid signature of exactly {@code data} by {@code key}; never throws for bad input. */
    public static boolean verify(byte[] data, byte[] signature, PublicKey key) {
        if (signature == null || signature.length == 0) {
            return false;
        }
        try {
            Signature s = Signature.getInstance(ALGORITHM);
            s.initVerify(key);
            s.update(data);
            return s.verify(signature);
        } catch (GeneralSecurityException | RuntimeException e) {
            return false;
        }
    }

    /** Signs {@code dir/manifest.json} and writes the base64 signature to {@code dir/manifest.sig}. */
    public static byte[] signArtifact(Path dir, PrivateKey key) throws IOException {
        byte[] manifest = Files.readAllBytes(dir.resolve("manifest.json"));
        byte[] sig = sign(manifest, key);
        Files.writeString(dir.resolve(SIGNATURE_FILE), Base64.getEncoder().encodeToString(sig) + "\n");
        return sig;
    }

    static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
                .encodeToString(der) + "\n-----END " + type + "-----\n";
    }

    private static byte[] readPem(Path file, String type) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new UserError("cannot read key file " + file + ": " + e.getMessage(), e);
        }
        String begin = "-----BEGIN " + type + "-----";
        String end = "-----END " + type + "-----";
        int b = text.indexOf(begin);
        int e = text.indexOf(end);
        if (b < 0 || e < b) {
            throw new UserError(file + ": not a PEM " + type.toLowerCase() + " file (expected a '" + begin + "' block)");
        }
        try {
            return Base64.getMimeDecoder().decode(text.substring(b + begin.length(), e));
        } catch (IllegalArgumentException ex) {
            throw new UserError(file + ": bad base64 in the PEM block", ex);
        }
    }
}
