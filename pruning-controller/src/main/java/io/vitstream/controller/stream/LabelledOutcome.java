package io.vitstream.controller.stream;

/**
 * One labelled prediction: right or wrong. Counted in the slice of the prediction's own timestamp, wherever the label
 * came from.
 */
record LabelledOutcome(String version, double keepRatio, boolean correct, long predictionTimestampMs) {
    SliceKey sliceKey() {
        return new SliceKey(version, keepRatio);
    }
}
