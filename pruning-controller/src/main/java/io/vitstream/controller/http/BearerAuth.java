package io.vitstream.controller.http;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The admin API's bearer token check. Both sides are hashed first and compared with
 * {@link MessageDigest#isEqual} (constant time in the content, and the hashes have one length), so neither the
 * token's content nor its length leaks through timing. An operator is named in the audit by the token's fingerprint
 * (first 8 hex digits of its SHA-256), never by the token.
 */
final class BearerAuth {
    private final byte[] expectedHash;
    private final String fingerprint;

    /** @param token the configured token, or null to accept every request (explicitly insecure) */
    BearerAuth(String token) {
        this.expectedHash = token == null ? null : sha256(token);
        this.fingerprint = token == null ? null : HexFormat.of().formatHex(expectedHash).substring(0, 8);
    }

    boolean open() {
        return expectedHash == null;
    }

    /**
     * The identity of a request with this {@code Authorization} header value, or null when it is missing or wrong.
     */
    String identify(String authorization) {
        if (expectedHash == null) {
            return "anonymous";
        }
        if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return null;
        }
        byte[] given = sha256(authorization.substring(7).trim());
        return MessageDigest.isEqual(given, expectedHash) ? "token:" + fingerprint : null;
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every Java runtime", e);
        }
    }
}
