package io.vitstream.bench;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.controller.pruner.PruneJob;
import io.vitstream.controller.pruner.PrunePlan;
import io.vitstream.controller.pruner.PrunePlanner;
import io.vitstream.controller.pruner.PruneRequest;
import io.vitstream.controller.pruner.PruneResult;
import io.vitstream.controller.pruner.PruneSettings;
import io.vitstream.controller.pruner.Saliency;
import io.vitstream.controller.pruner.SaliencyScores;
import io.vitstream.data.LabeledImages;
import io.vitstream.evaluation.Evaluator;
import io.vitstream.model.VitModel;
import io.vitstream.util.UserError;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Structured methods compared at one FLOPs budget of one parent, as {@code bench prune} and {@code bench methods} run
 * them: every measure (and mask search) estimated once on the same calibration set, then per method the plan, the
 * sliced model's test accuracy, and the job's short distillation fine-tune (same settings for all), whose model is
 * written under {@code work/<method>}.
 */
final class StructuredComparison {
    private StructuredComparison() {}

    /**
     * @param testSliced test accuracy straight after slicing (DJL forward)
     * @param validationSliced validation accuracy straight after slicing (the job's engine)
     * @param model the fine-tuned model's directory
     */
    record Result(Saliency.Method method, PrunePlan plan, long flops, double testSliced, double validationSliced,
            double testTuned, double validationTuned, Path model) {}

    static List<Result> run(Path parent, PruneSettings settings, double ratio, List<Saliency.Method> methods,
            LabeledImages test, Path work, PrintWriter out) throws Exception {
        List<Result> results = new ArrayList<>();
        try (ModelArtifact.Loaded p = ModelArtifact.load(parent)) {
            out.printf(Locale.ROOT, "  estimating %s on %d calibration images...%n",
                    methods.stream().map(Saliency.Method::id).toList(), settings.calibrationImages());
            out.flush();
            SaliencyScores scores = PruneJob.saliency(p.model(), p.manifest().input(),
                    PruneJob.calibrationSet(settings), Set.copyOf(methods), settings, (phase, f, detail) -> {});
            try {
                long target = Math.round(ratio * p.manifest().flopsPerImage());
                for (Saliency.Method method : methods) {
                    PrunePlan plan = PrunePlanner.plan(p.manifest().architecture(), p.manifest().sparsifier(),
                            scores, method, target);
                    double testBefore;
                    try (VitModel sliced = PruneJob.slice(p.model(), plan, scores, null)) {
                        testBefore = Evaluator.evaluate(sliced, p.manifest().input(), test, 256).accuracy();
                    }
                    Path dir = work.resolve(method.id());
                    PruneResult r = PruneJob.run(new PruneRequest(parent, dir, "compare-" + method.id(), ratio, method,
                            settings), (phase, f, detail) -> {}, false, scores);
                    results.add(new Result(method, plan, r.flopsAfter(), testBefore,
                            r.validationAccuracyBeforeFineTune(), r.manifest().testAccuracy(), r.validationAccuracy(),
                            dir));
                    out.printf(Locale.ROOT, "  %s done: val %.4f sliced, %.4f fine-tuned%n", method.id(),
                            r.validationAccuracyBeforeFineTune(), r.validationAccuracy());
                    out.flush();
                }
            } finally {
                scores.closeMasks();
            }
        }
        return results;
    }

    /** The saliency methods {@code names} give, in order, once each; an unknown name is one line naming {@code option}. */
    static List<Saliency.Method> methods(List<String> names, String option) {
        List<Saliency.Method> methods = new ArrayList<>();
        for (String m : names) {
            try {
                Saliency.Method parsed = Saliency.Method.parse(m);
                if (!methods.contains(parsed)) {
                    methods.add(parsed);
                }
            } catch (IllegalArgumentException e) {
                throw new UserError(option + ": " + e.getMessage());
            }
        }
        return methods;
    }
}
