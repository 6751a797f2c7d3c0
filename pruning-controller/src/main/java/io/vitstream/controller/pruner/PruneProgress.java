package io.vitstream.controller.pruner;

/** Progress of a running prune job; called from the job's thread. */
@FunctionalInterface
public interface PruneProgress {
    /**
     * @param phase {@code saliency}, {@code plan}, {@code slice}, {@code fine-tune}, {@code evaluate}, {@code save}
     * @param fraction of the whole job done, in [0, 1]
     * @param detail one human line (epoch, loss, accuracy, ETA)
     */
    void update(String phase, double fraction, String detail);

    PruneProgress NONE = (phase, fraction, detail) -> {};
}
