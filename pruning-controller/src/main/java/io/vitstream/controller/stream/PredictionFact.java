package io.vitstream.controller.stream;

import io.vitstream.kafka.Prediction;

/**
 * What the metrics need of one prediction (the join store keeps these, not whole predictions).
 *
 * @param label the label from the image's header, or null
 * @param teacherClassIndex the dense teacher's class when the worker sampled this input, or null
 * @param timestampMs the prediction record's timestamp (event time)
 */
record PredictionFact(String version, double keepRatio, int classIndex, Integer label, double endToEndMs,
        Integer teacherClassIndex, long timestampMs) {

    static PredictionFact of(Prediction p, long timestampMs) {
        return new PredictionFact(p.modelVersion(), p.keepRatio(), p.classIndex(), p.label(), p.endToEndMs(),
                p.teacherClassIndex(), timestampMs);
    }

    SliceKey sliceKey() {
        return new SliceKey(version, keepRatio);
    }

    /** This prediction judged against {@code groundTruth}. */
    LabelledOutcome outcome(int groundTruth) {
        return new LabelledOutcome(version, keepRatio, classIndex == groundTruth, timestampMs);
    }
}
