package io.vitstream.controller.pruner;

import io.vitstream.artifact.Manifest;
import java.nio.file.Path;

/**
 * What a finished prune job made.
 *
 * @param out the new artifact's directory
 * @param manifest its manifest (version, parent, plan, FLOPs, measured accuracy)
 * @param flopsBefore parent FLOPs per image (dense, keep ratio 1.0)
 * @param flopsAfter new model's FLOPs per image (dense, keep ratio 1.0)
 * @param validationAccuracy accuracy on the held-out validation split after fine-tuning
 * @param validationAccuracyBeforeFineTune the sliced model's validation accuracy before fine-tuning
 * @param plan what was removed
 * @param scores every group's saliency by all three measures
 */
public record PruneResult(Path out, Manifest manifest, long flopsBefore, long flopsAfter, double validationAccuracy,
        double validationAccuracyBeforeFineTune, PrunePlan plan, SaliencyScores scores) {}
