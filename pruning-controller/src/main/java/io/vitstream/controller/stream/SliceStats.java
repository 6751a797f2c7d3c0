package io.vitstream.controller.stream;

/**
 * The aggregate of one time slice for one {@link SliceKey}: every field adds up when slices (or keep ratios) merge.
 */
record SliceStats(long predictions, LatencyHistogram latency, long labelled, long correct, long teacherSampled,
        long teacherAgreed) {

    static final SliceStats EMPTY = new SliceStats(0, LatencyHistogram.EMPTY, 0, 0, 0, 0);

    SliceStats withPrediction(PredictionFact f) {
        boolean sampled = f.teacherClassIndex() != null;
        boolean agreed = sampled && f.teacherClassIndex() == f.classIndex();
        return new SliceStats(predictions + 1, latency.plus(f.endToEndMs()), labelled, correct,
                teacherSampled + (sampled ? 1 : 0), teacherAgreed + (agreed ? 1 : 0));
    }

    SliceStats withOutcome(LabelledOutcome o) {
        return new SliceStats(predictions, latency, labelled + 1, correct + (o.correct() ? 1 : 0), teacherSampled,
                teacherAgreed);
    }

    SliceStats merge(SliceStats o) {
        return new SliceStats(predictions + o.predictions, latency.merge(o.latency), labelled + o.labelled,
                correct + o.correct, teacherSampled + o.teacherSampled, teacherAgreed + o.teacherAgreed);
    }

    MetricsView.VersionStats view(String version) {
        return new MetricsView.VersionStats(version, predictions, latency.quantile(0.50), latency.quantile(0.95),
                latency.quantile(0.99), labelled, correct, teacherSampled, teacherAgreed);
    }
}
