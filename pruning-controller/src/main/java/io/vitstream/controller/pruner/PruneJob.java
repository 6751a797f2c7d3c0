package io.vitstream.controller.pruner;

/**
 * The whole structured re-pruning job: saliency on a calibration set, a FLOPs-budgeted plan, physical slicing,
 * distillation fine-tuning, evaluation, save. Blocking; runs in the caller's thread; needs no Kafka.
 */
public final class PruneJob {
    private PruneJob() {}

    public static PruneResult run(PruneRequest request, PruneProgress progress) throws Exception {
        throw new UnsupportedOperationException("structured pruning: issue 5, in progress");
    }
}
