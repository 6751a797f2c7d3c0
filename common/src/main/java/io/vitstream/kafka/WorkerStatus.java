package io.vitstream.kafka;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

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
        String timestamp) {

    public static final int SCHEMA = 1;
    public static final JsonSerde<WorkerStatus> SERDE = JsonSerde.of(WorkerStatus.class);
}
