package io.vitstream.controller.pruner;

import java.nio.file.Path;

/**
 * One structured re-pruning job: slice {@code parent} down to {@code flopsRatio} of its FLOPs by {@code saliency},
 * fine-tune with distillation from the parent, and write a new artifact to {@code out} as {@code newVersion}.
 *
 * @param parent the parent model's artifact directory
 * @param out where the new artifact goes (must not exist, or be empty)
 * @param newVersion version string of the new model
 * @param flopsRatio target FLOPs as a share of the parent's, in (0, 1)
 * @param saliency taylor, fisher or obd
 * @param settings calibration, fine-tuning and distillation settings
 */
public record PruneRequest(Path parent, Path out, String newVersion, double flopsRatio, Saliency.Method saliency,
        PruneSettings settings) {}
