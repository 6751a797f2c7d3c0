package io.vitstream.kafka;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * A value on {@link Topics#PREDICTIONS}. New fields may be added; none is renamed (bump {@link #SCHEMA} only for an
 * incompatible change).
 *
 * @param tokensKept tokens entering each block (CLS included) for this input
 * @param flops FLOPs this input cost (2 per multiply-add), from the architecture and {@code tokensKept}
 * @param queueMs record timestamp to the start of its batch
 * @param inferenceMs forward pass of its batch
 * @param endToEndMs record timestamp to the prediction being produced
 * @param timestamp ISO-8601 UTC of production
 * @param label the input's {@code label} header, when it had one
 * @param teacherClassIndex the dense teacher's class for this input, when the worker sampled it for dense-teacher
 *     agreement (teacher model at keep ratio 1.0 on the same pixels); null when not sampled
 * @param keepReason why the worker ran this input's batch at {@code keepRatio}: {@code fixed} (vit.control's fixed
 *     ratio), {@code ceiling} (the highest allowed ratio meets the SLO), {@code slo} (lowered to meet it), {@code floor}
 *     (not even the floor is predicted to meet it), {@code hold} (a higher ratio would fit, not yet for long enough),
 *     {@code warming} (nothing measured yet)
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Prediction(
        int schema,
        String id,
        int classIndex,
        String className,
        List<TopK> topK,
        String modelVersion,
        double keepRatio,
        List<Integer> tokensKept,
        long flops,
        double queueMs,
        double inferenceMs,
        double endToEndMs,
        String worker,
        String timestamp,
        Integer label,
        Integer teacherClassIndex,
        String keepReason) {

    public static final int SCHEMA = 1;

    public record TopK(int classIndex, String className, double probability) {}

    public static final JsonSerde<Prediction> SERDE = JsonSerde.of(Prediction.class);

    /** A prediction without a keep reason (producers older than the adaptive keep ratio). */
    public Prediction(int schema, String id, int classIndex, String className, List<TopK> topK, String modelVersion,
            double keepRatio, List<Integer> tokensKept, long flops, double queueMs, double inferenceMs,
            double endToEndMs, String worker, String timestamp, Integer label, Integer teacherClassIndex) {
        this(schema, id, classIndex, className, topK, modelVersion, keepRatio, tokensKept, flops, queueMs, inferenceMs,
                endToEndMs, worker, timestamp, label, teacherClassIndex, null);
    }
}
