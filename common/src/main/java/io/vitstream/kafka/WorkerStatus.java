package io.vitstream.kafka;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;
import java.util.Map;

/**
 * A heartbeat on the compacted {@link Topics#WORKER_STATUS}, keyed by worker id.
 *
 * @param health {@code starting} (no model yet), {@code serving}, {@code degraded} (serving, but the desired version
 *     was refused), {@code stopped}
 * @param modelVersion version serving now (null before the first load)
 * @param canaryVersion canary version serving its share of batches now, or null
 * @param desiredVersion active version asked for by {@link Topics#CONTROL}
 * @param refusedVersions versions that failed a check, with the reason
 * @param lastError latest error, one line
 * @param load what the worker's fast loop measures (null before it has served a batch)
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record WorkerStatus(
        int schema,
        String worker,
        String health,
        String modelVersion,
        String canaryVersion,
        String desiredVersion,
        double keepRatio,
        List<String> refusedVersions,
        String lastError,
        long imagesProcessed,
        String timestamp,
        Load load) {

    public static final int SCHEMA = 1;
    public static final JsonSerde<WorkerStatus> SERDE = JsonSerde.of(WorkerStatus.class);

    /**
     * The load one worker sees and the capacity it has measured, for the controller's slow loop.
     *
     * @param arrivalPerS images per second arriving on this worker's partitions (served plus backlog growth)
     * @param backlog records waiting: fetched and not yet served, plus its partitions' lag
     * @param oldestWaitMs age of the oldest waiting record, milliseconds (0 when none waits)
     * @param keepFloor lowest keep ratio it may choose now
     * @param keepCeiling highest keep ratio it may choose now
     * @param capacityPerS images per second this worker serves the active version at each keep ratio (key "0.70"),
     *     full batches on every lane, from its measured service times
     * @param atFloorShare share of its recent batches served at the floor while the floor was below the ceiling
     */
    public record Load(double arrivalPerS, long backlog, double oldestWaitMs, double keepFloor, double keepCeiling,
            Map<String, Double> capacityPerS, double atFloorShare) {}
}
