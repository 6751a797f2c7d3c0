package io.vitstream.controller.policy;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.vitstream.controller.stream.MetricsView.VersionStats;
import io.vitstream.kafka.WorkerStatus;
import java.util.Collection;
import java.util.Collections;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the live workers say of their load and capacity, summed over the fleet: the figures rule 2 sizes a re-prune
 * from and the scale-out hint (rule 4 of DESIGN.md's loop). Pure: built from heartbeats (and, for the share at the
 * floor, the predictions' keep ratios when no heartbeat carries it).
 *
 * @param workers live workers
 * @param reporting of those, how many report a load section
 * @param arrivalPerS images per second arriving, summed over the reporting workers
 * @param backlog records waiting, summed
 * @param oldestWaitMs the oldest waiting record's age over the fleet, milliseconds
 * @param atFloorShare share of recent batches served at the floor (arrival-weighted over the workers whose floor is
 *     below their ceiling), or null when unknown
 * @param atFloorSource where {@code atFloorShare} comes from: {@code heartbeats} or {@code predictions}
 * @param capacityPerS per loaded version, per keep ratio ("0.70"): images per second, summed over the reporting
 *     workers serving that version
 * @param floor the keep ratio the capacity at the floor is read at
 * @param capacityAtFloorPerS the active version's capacity at the floor, summed over the workers that measured it
 *     (a worker without a figure at the floor counts with its nearest measured ratio), or null
 * @param workersAtFloor how many workers the capacity at the floor was summed over
 * @param workersNeeded ceil(arrival / per-worker capacity at the floor): how many workers would meet the arrival at
 *     the floor (a hint; nothing scales by itself), or null when unknown
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record FleetLoad(int workers, int reporting, double arrivalPerS, long backlog, double oldestWaitMs,
        Double atFloorShare, String atFloorSource, Map<String, Map<String, Double>> capacityPerS, double floor,
        Double capacityAtFloorPerS, int workersAtFloor, Integer workersNeeded) {

    public static final String FROM_HEARTBEATS = "heartbeats";
    public static final String FROM_PREDICTIONS = "predictions";
    private static final double EPS = 1e-9;

    public FleetLoad {
        capacityPerS = Collections.unmodifiableMap(new TreeMap<>(capacityPerS));
    }

    /**
     * The fleet's load from the live workers' heartbeats.
     *
     * @param activeVersion the version whose capacity at the floor is wanted
     * @param floor the floor on vit.control (the fixed ratio in fixed mode)
     */
    public static FleetLoad of(Collection<WorkerStatus> live, String activeVersion, double floor) {
        int reporting = 0;
        double arrival = 0;
        long backlog = 0;
        double oldest = 0;
        double weighted = 0;
        double weight = 0;
        double plainSum = 0;
        int plainN = 0;
        Map<String, Map<String, Double>> capacity = new TreeMap<>();
        double atFloor = 0;
        int atFloorN = 0;
        for (WorkerStatus w : live) {
            WorkerStatus.Load l = w.load();
            if (l == null) {
                continue;
            }
            reporting++;
            arrival += finite(l.arrivalPerS());
            backlog += Math.max(0, l.backlog());
            oldest = Math.max(oldest, finite(l.oldestWaitMs()));
            if (l.keepFloor() < l.keepCeiling() - EPS && Double.isFinite(l.atFloorShare())) {
                weighted += finite(l.arrivalPerS()) * l.atFloorShare();
                weight += finite(l.arrivalPerS());
                plainSum += l.atFloorShare();
                plainN++;
            }
            if (w.modelVersion() != null && l.capacityPerS() != null && !l.capacityPerS().isEmpty()) {
                Map<String, Double> byKeep = capacity.computeIfAbsent(w.modelVersion(), v -> new TreeMap<>());
                l.capacityPerS().forEach((k, v) -> {
                    if (v != null && Double.isFinite(v) && v >= 0) {
                        byKeep.merge(k, v, Double::sum);
                    }
                });
                Double c = w.modelVersion().equals(activeVersion) ? at(l.capacityPerS(), floor) : null;
                if (c != null) {
                    atFloor += c;
                    atFloorN++;
                }
            }
        }
        Double share = plainN == 0 ? null : weight > 0 ? weighted / weight : plainSum / plainN;
        Double capAtFloor = atFloorN == 0 ? null : atFloor;
        Integer needed = capAtFloor == null || capAtFloor <= 0 || arrival <= 0 ? null
                : (int) Math.ceil(arrival / (capAtFloor / atFloorN) - EPS);
        return new FleetLoad(live.size(), reporting, arrival, backlog, oldest, share,
                share == null ? null : FROM_HEARTBEATS, capacity, floor, capAtFloor, atFloorN, needed);
    }

    /**
     * This load with the share at the floor taken from the active version's predictions per keep ratio (those at or
     * below the floor over all), when no heartbeat gave it; unchanged otherwise or when there are no predictions.
     */
    public FleetLoad withPredictionsAtFloor(Map<Double, VersionStats> byKeepRatio) {
        if (atFloorShare != null || byKeepRatio == null || byKeepRatio.isEmpty()) {
            return this;
        }
        long all = 0;
        long low = 0;
        for (Map.Entry<Double, VersionStats> e : byKeepRatio.entrySet()) {
            all += e.getValue().predictions();
            if (e.getKey() <= floor + EPS) {
                low += e.getValue().predictions();
            }
        }
        if (all == 0) {
            return this;
        }
        return new FleetLoad(workers, reporting, arrivalPerS, backlog, oldestWaitMs, (double) low / all,
                FROM_PREDICTIONS, capacityPerS, floor, capacityAtFloorPerS, workersAtFloor, workersNeeded);
    }

    /** The capacity at {@code keep}: the figure for its key ("%.2f"), else the nearest measured ratio's, else null. */
    static Double at(Map<String, Double> capacity, double keep) {
        Double exact = capacity.get(key(keep));
        if (exact != null && Double.isFinite(exact)) {
            return exact;
        }
        Double best = null;
        double bestDistance = Double.MAX_VALUE;
        for (Map.Entry<String, Double> e : capacity.entrySet()) {
            double k;
            try {
                k = Double.parseDouble(e.getKey().replace(',', '.'));
            } catch (NumberFormatException ex) {
                continue; // not a keep ratio: someone else's mistake, not a reason to lose the rest
            }
            if (e.getValue() != null && Double.isFinite(e.getValue()) && Math.abs(k - keep) < bestDistance) {
                bestDistance = Math.abs(k - keep);
                best = e.getValue();
            }
        }
        return best;
    }

    /** A keep ratio as the heartbeats key it: "0.70". */
    public static String key(double keep) {
        return String.format(Locale.ROOT, "%.2f", keep);
    }

    private static double finite(double v) {
        return Double.isFinite(v) && v > 0 ? v : 0;
    }
}
