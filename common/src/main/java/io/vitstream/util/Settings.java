package io.vitstream.util;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

/**
 * Dotted {@code name=value} settings of a service (the worker, the controller): gathered from a properties file, the
 * environment and explicit options, then read one by one with every problem collected, so that one
 * {@link UserError} names them all (unknown names included: a typo must not pass silently).
 */
public final class Settings {
    /** Environment variable that sets {@code bootstrap.servers} for every service. */
    public static final String ENV_BOOTSTRAP = "KAFKA_BOOTSTRAP_SERVERS";

    private final Map<String, String> values;
    private final List<String> errors = new ArrayList<>();
    private final Set<String> used = new HashSet<>();

    public Settings(Map<String, String> values) {
        this.values = values;
    }

    /**
     * The properties file (if any), then the environment, then {@code explicit} (non-null values win).
     *
     * @param what names the service in the error about an unreadable file
     */
    public static Map<String, String> gather(String what, Path propertiesFile, Map<String, String> environment,
            Map<String, String> explicit) {
        Map<String, String> settings = new LinkedHashMap<>();
        if (propertiesFile != null) {
            Properties p = new Properties();
            try (Reader r = Files.newBufferedReader(propertiesFile)) {
                p.load(r);
            } catch (IOException e) {
                throw new UserError("cannot read " + what + " config " + propertiesFile + ": " + e.getMessage(), e);
            }
            p.stringPropertyNames().forEach(k -> settings.put(k, p.getProperty(k).trim()));
        }
        settings.putAll(environment);
        explicit.forEach((k, v) -> {
            if (v != null) {
                settings.put(k, v);
            }
        });
        return settings;
    }

    /**
     * Settings named by environment variables: {@code PREFIX_A_B} is {@code a.b}, {@value #ENV_BOOTSTRAP} is
     * {@code bootstrap.servers}; variables starting with one of {@code ignoredPrefixes} belong to something else.
     */
    public static Map<String, String> fromEnvironment(Map<String, String> env, String prefix,
            Set<String> ignoredPrefixes) {
        Map<String, String> out = new LinkedHashMap<>();
        env.forEach((k, v) -> {
            if (k.equals(ENV_BOOTSTRAP)) {
                out.put("bootstrap.servers", v);
            } else if (k.startsWith(prefix) && ignoredPrefixes.stream().noneMatch(k::startsWith)) {
                out.put(k.substring(prefix.length()).toLowerCase(Locale.ROOT).replace('_', '.'), v);
            }
        });
        return out;
    }

    /** The raw values (names as given). */
    public Map<String, String> values() {
        return values;
    }

    public void error(String message) {
        errors.add(message);
    }

    /** Marks a name as known without reading it (for example a {@code kafka.*} pass-through). */
    public void markUsed(String name) {
        used.add(name);
    }

    /** Settings starting with {@code prefix}, the prefix removed; all marked used. */
    public Map<String, String> withPrefix(String prefix) {
        Map<String, String> out = new LinkedHashMap<>();
        values.forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                out.put(k.substring(prefix.length()), v);
                used.add(k);
            }
        });
        return out;
    }

    public String string(String name, String dflt) {
        used.add(name);
        String v = values.get(name);
        return v == null || v.isBlank() ? dflt : v.trim();
    }

    public long number(String name, long dflt, long min, long max) {
        String v = string(name, null);
        if (v == null) {
            return dflt;
        }
        try {
            long n = Long.parseLong(v.replace("_", ""));
            if (n < min || n > max) {
                errors.add(name + " must be between " + min + " and " + max + ", got " + n);
                return dflt;
            }
            return n;
        } catch (NumberFormatException e) {
            errors.add(name + " must be an integer, got '" + v + "'");
            return dflt;
        }
    }

    public double decimal(String name, double dflt, double min, double max) {
        String v = string(name, null);
        if (v == null) {
            return dflt;
        }
        try {
            double n = Double.parseDouble(v);
            if (!(n >= min && n <= max)) {
                errors.add(name + " must be between " + min + " and " + max + ", got " + v);
                return dflt;
            }
            return n;
        } catch (NumberFormatException e) {
            errors.add(name + " must be a number, got '" + v + "'");
            return dflt;
        }
    }

    /** A share in [0, 1]; 0 when absent. */
    public double share(String name) {
        String v = string(name, null);
        if (v == null) {
            return 0;
        }
        double d;
        try {
            d = Double.parseDouble(v);
        } catch (NumberFormatException e) {
            d = Double.NaN;
        }
        if (!(d >= 0 && d <= 1)) {
            errors.add(name + " must be a number between 0 and 1, got '" + v + "'");
            return 0;
        }
        return d;
    }

    public boolean bool(String name, boolean dflt) {
        String v = string(name, null);
        if (v == null) {
            return dflt;
        }
        if (v.equalsIgnoreCase("true") || v.equalsIgnoreCase("false")) {
            return Boolean.parseBoolean(v.toLowerCase(Locale.ROOT));
        }
        errors.add(name + " must be true or false, got '" + v + "'");
        return dflt;
    }

    public Path path(String name, boolean mustExist) {
        String v = string(name, null);
        if (v == null) {
            return null;
        }
        Path p = Path.of(v);
        if (mustExist && !Files.exists(p)) {
            errors.add(name + ": " + p + " does not exist");
        }
        return p;
    }

    /**
     * Adds an error for every setting never read or marked, then throws one {@link UserError} naming every problem.
     *
     * @param what for example "worker"
     */
    public void finish(String what) {
        for (String k : values.keySet()) {
            if (!used.contains(k)) {
                errors.add("unknown setting " + k);
            }
        }
        if (!errors.isEmpty()) {
            throw new UserError("invalid " + what + " configuration: " + String.join("; ", errors));
        }
    }
}
