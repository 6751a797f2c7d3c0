package io.vitstream.serving.decode;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** A parsed {@code content-type}: {@code type/subtype; name=value; ...}. */
record MediaType(String essence, Map<String, String> params) {

    /** Null for a missing or blank header. */
    static MediaType parse(String header) throws DecodeException {
        if (header == null || header.isBlank()) {
            return null;
        }
        String[] parts = header.split(";");
        String essence = parts[0].trim().toLowerCase(Locale.ROOT);
        if (!essence.matches("[a-z0-9.+-]+/[a-z0-9.+-]+")) {
            throw new DecodeException(RejectReason.CORRUPT_HEADER, "content-type is not type/subtype: " + header);
        }
        Map<String, String> params = new LinkedHashMap<>();
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i].trim();
            if (p.isEmpty()) {
                continue;
            }
            int eq = p.indexOf('=');
            if (eq < 1) {
                throw new DecodeException(RejectReason.CORRUPT_HEADER, "content-type parameter without a value: " + p);
            }
            params.put(p.substring(0, eq).trim().toLowerCase(Locale.ROOT), p.substring(eq + 1).trim().replace("\"", ""));
        }
        return new MediaType(essence, params);
    }

    boolean is(String type) {
        return essence.equals(type);
    }

    /** The parameter as a positive integer, or -1 when absent or not a positive integer. */
    long intParam(String name) {
        String v = params.get(name);
        if (v == null || !v.matches("\\d{1,9}")) {
            return -1;
        }
        return Long.parseLong(v);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(essence);
        params.forEach((k, v) -> sb.append("; ").append(k).append('=').append(v));
        return sb.toString();
    }
}
