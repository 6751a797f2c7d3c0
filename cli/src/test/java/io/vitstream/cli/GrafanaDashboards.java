package io.vitstream.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The committed Grafana dashboards and provisioning files under {@code dashboards/}, read as Grafana reads them, and
 * every PromQL expression in them (panel targets, annotations, template variables) with Grafana's variables replaced
 * the way Grafana would for "All" selections.
 */
final class GrafanaDashboards {
    static final ObjectMapper JSON = new ObjectMapper();
    static final YAMLMapper YAML = new YAMLMapper();

    /** Where an expression sits. Annotations run as range queries in Grafana; the rest as the panel asks. */
    enum Kind { PANEL, ANNOTATION, VARIABLE }

    /** One expression: dashboard uid, the panel title / annotation name / variable name, refId, raw expression. */
    record Query(String dashboard, Kind kind, String where, String refId, String expr) {
        String label() {
            return dashboard + " / " + kind.name().toLowerCase(java.util.Locale.ROOT) + " \"" + where + "\""
                    + (refId == null ? "" : " " + refId);
        }

        boolean usesController() {
            return expr.contains("controller_");
        }
    }

    /**
     * Grafana's built-in variables at the values this test stands for. {@code $__rate_interval} is at least four scrape
     * intervals in Grafana (1m with the provisioned 15s); the same window is used here.
     */
    static final Map<String, String> BUILT_INS = Map.of("__rate_interval", "1m", "__interval", "15s",
            "__range", "1h");

    private static final Pattern VARIABLE = Pattern.compile("\\$\\{(\\w+)(?::\\w+)?}|\\$(\\w+)");

    final Path root;
    final Map<String, JsonNode> dashboards = new LinkedHashMap<>();
    final JsonNode datasourceProvisioning;
    final JsonNode dashboardProvisioning;

    private GrafanaDashboards(Path root) throws IOException {
        this.root = root;
        try (Stream<Path> files = Files.list(root.resolve("grafana/dashboards"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".json")).sorted().toList()) {
                dashboards.put(f.getFileName().toString(), JSON.readTree(f.toFile()));
            }
        }
        Path provisioning = root.resolve("grafana/provisioning");
        datasourceProvisioning = YAML.readTree(provisioning.resolve("datasources/prometheus.yml").toFile());
        dashboardProvisioning = YAML.readTree(provisioning.resolve("dashboards/vitstream.yml").toFile());
    }

    static GrafanaDashboards load(Path dashboardsDir) {
        try {
            return new GrafanaDashboards(dashboardsDir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every expression of every dashboard. */
    List<Query> queries() {
        List<Query> out = new ArrayList<>();
        for (JsonNode d : dashboards.values()) {
            String uid = d.path("uid").asText();
            for (JsonNode p : allPanels(d)) {
                for (JsonNode t : p.path("targets")) {
                    out.add(new Query(uid, Kind.PANEL, p.path("title").asText(), t.path("refId").asText(),
                            t.path("expr").asText()));
                }
            }
            for (JsonNode a : d.path("annotations").path("list")) {
                if (a.path("builtIn").asInt() == 1) {
                    continue;
                }
                String expr = a.path("target").has("expr") ? a.path("target").path("expr").asText()
                        : a.path("expr").asText();
                out.add(new Query(uid, Kind.ANNOTATION, a.path("name").asText(), null, expr));
            }
            for (JsonNode v : d.path("templating").path("list")) {
                if (v.path("type").asText().equals("query")) {
                    String q = v.path("query").isObject() ? v.path("query").path("query").asText()
                            : v.path("query").asText();
                    out.add(new Query(uid, Kind.VARIABLE, v.path("name").asText(), null, q));
                }
            }
        }
        return out;
    }

    /** Panels, including those nested in collapsed rows. */
    static List<JsonNode> allPanels(JsonNode dashboard) {
        List<JsonNode> out = new ArrayList<>();
        for (JsonNode p : dashboard.path("panels")) {
            out.add(p);
            p.path("panels").forEach(out::add);
        }
        return out;
    }

    /**
     * The expression as Grafana sends it with every template variable at "All" (its {@code allValue}) and the
     * built-ins at {@link #BUILT_INS}; an unknown variable is an error.
     */
    String resolve(Query q) {
        JsonNode d = dashboards.values().stream().filter(x -> x.path("uid").asText().equals(q.dashboard()))
                .findFirst().orElseThrow();
        Map<String, String> values = new LinkedHashMap<>(BUILT_INS);
        for (JsonNode v : d.path("templating").path("list")) {
            if (v.path("includeAll").asBoolean()) {
                values.put(v.path("name").asText(), v.path("allValue").asText());
            }
        }
        Matcher m = VARIABLE.matcher(q.expr());
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            String name = m.group(1) != null ? m.group(1) : m.group(2);
            String value = values.get(name);
            if (value == null) {
                throw new IllegalArgumentException(q.label() + " uses $" + name + ", which is no template variable"
                        + " with an All value and no built-in this test knows");
            }
            m.appendReplacement(sb, Matcher.quoteReplacement(value));
        }
        m.appendTail(sb);
        return sb.toString();
    }

    /** {@code label_values(metric, label)} of a variable query: [metric, label]. */
    static String[] labelValues(String query) {
        Matcher m = Pattern.compile("^\\s*label_values\\(\\s*(.+?)\\s*,\\s*(\\w+)\\s*\\)\\s*$").matcher(query);
        if (!m.matches()) {
            throw new IllegalArgumentException("not a label_values(metric, label) query: " + query);
        }
        return new String[] {m.group(1), m.group(2)};
    }
}
