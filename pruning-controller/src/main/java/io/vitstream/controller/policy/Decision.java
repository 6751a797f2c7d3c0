package io.vitstream.controller.policy;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.time.Instant;

/**
 * One explained decision of the controller, or one audited operator action: the log line, the entry of the
 * decisions history ({@code GET /decisions}) and one count of {@code controller.decisions{rule}}.
 *
 * @param time ISO-8601 UTC
 * @param rule which rule (or {@link Rule#ADMIN})
 * @param action what it does
 * @param reason one human sentence with the figures that led to it
 * @param actor {@code policy}, {@code rollout}, {@code job}, or for operator actions who asked (token identity or
 *     remote address)
 * @param keepRatio the keep ratio it sets, when it sets one
 * @param version the version it concerns, when one
 * @param flopsRatio the FLOPs target of a re-prune, when one
 * @param keepFloor the keep-ratio floor it sets (adaptive mode), when it sets bounds
 * @param keepCeiling the keep-ratio ceiling it sets (adaptive mode), when it sets bounds
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Decision(String time, Rule rule, Action action, String reason, String actor, Double keepRatio,
        String version, Double flopsRatio, Double keepFloor, Double keepCeiling) {

    public Decision {
        if (time == null || rule == null || action == null || reason == null || actor == null) {
            throw new IllegalArgumentException("a decision needs time, rule, action, reason and actor");
        }
    }

    public static Decision of(Instant at, Rule rule, Action action, String reason, String actor) {
        return new Decision(at.toString(), rule, action, reason, actor, null, null, null, null, null);
    }

    public Decision withKeepRatio(double r) {
        return new Decision(time, rule, action, reason, actor, r, version, flopsRatio, keepFloor, keepCeiling);
    }

    public Decision withVersion(String v) {
        return new Decision(time, rule, action, reason, actor, keepRatio, v, flopsRatio, keepFloor, keepCeiling);
    }

    public Decision withFlopsRatio(double f) {
        return new Decision(time, rule, action, reason, actor, keepRatio, version, f, keepFloor, keepCeiling);
    }

    /** This decision setting the adaptive bounds [{@code floor}, {@code ceiling}]. */
    public Decision withBounds(double floor, double ceiling) {
        return new Decision(time, rule, action, reason, actor, keepRatio, version, flopsRatio, floor, ceiling);
    }

    @JsonIgnore
    public Instant instant() {
        return Instant.parse(time);
    }

    /** One log line: {@code [rule 1 latency] lower_keep_ratio: reason}. */
    public String line() {
        return "[" + (rule == Rule.ADMIN ? "admin " + actor : "rule " + rule.number() + " " + rule.id()) + "] "
                + action.id() + ": " + reason;
    }
}
