package io.vitstream.controller.job;

import io.vitstream.controller.pruner.PruneJob;
import io.vitstream.controller.pruner.PruneProgress;
import io.vitstream.controller.pruner.PruneRequest;
import io.vitstream.controller.pruner.PruneResult;

/** Runs one structured re-prune, blocking. The controller's is {@link #DEFAULT}; tests may give their own. */
@FunctionalInterface
public interface PruneRunner {
    PruneResult run(PruneRequest request, PruneProgress progress) throws Exception;

    PruneRunner DEFAULT = PruneJob::run;
}
