package io.vitstream.model;

import java.util.ArrayList;
import java.util.List;

/**
 * Where and how a model drops tokens (DynamicViT): a token-selection stage runs before each block listed in
 * {@code stages}; each keeps {@code ratio x} the patch tokens entering it.
 *
 * @param stages block indices (ascending, at least 1, below depth) before which tokens are selected
 * @param predictorHidden hidden width of each learned token predictor (0 = no learned predictors: the
 *     CLS-attention baseline only)
 * @param minRatio lowest keep ratio the predictors were trained for
 * @param maxRatio highest keep ratio the predictors were trained for
 */
public record SparsifierConfig(List<Integer> stages, int predictorHidden, double minRatio, double maxRatio) {
    public SparsifierConfig {
        if (stages == null || stages.isEmpty()) {
            throw new IllegalArgumentException("a sparsifier needs at least one stage");
        }
        stages = List.copyOf(stages);
        for (int i = 0; i < stages.size(); i++) {
            if (stages.get(i) < 1 || (i > 0 && stages.get(i) <= stages.get(i - 1))) {
                throw new IllegalArgumentException("stages must be ascending block indices >= 1, got " + stages);
            }
        }
        if (predictorHidden < 0 || predictorHidden % 4 != 0) {
            throw new IllegalArgumentException("predictor_hidden must be a non-negative multiple of 4, got "
                    + predictorHidden);
        }
        if (!(minRatio > 0 && minRatio <= maxRatio && maxRatio <= 1)) {
            throw new IllegalArgumentException("trained ratio range must satisfy 0 < min <= max <= 1, got ["
                    + minRatio + ", " + maxRatio + "]");
        }
    }

    /** Checks the stages against a model depth. */
    public void validateFor(int depth) {
        if (stages.get(stages.size() - 1) >= depth) {
            throw new IllegalArgumentException("sparsifier stage " + stages.get(stages.size() - 1)
                    + " is not a block of a depth-" + depth + " model");
        }
    }

    /**
     * Default stage placement: the first block stays dense (it builds the features the selection relies on), then
     * up to three stages spread over the rest (depth 6: before blocks 1, 2 and 3, leaving the last three blocks on
     * the fewest tokens; depth 12: 1, 4, 7). Earlier stages save more: with 50 tokens a 6-block model at ratio 0.5
     * keeps about 36% of the dense block FLOPs with stages 1-2-3 but 51% with 2-3-4.
     */
    public static List<Integer> defaultStages(int depth) {
        List<Integer> s = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            int b = 1 + i * Math.max(1, (depth - 3) / 3);
            if (b < depth && (s.isEmpty() || b > s.get(s.size() - 1))) {
                s.add(b);
            }
        }
        if (s.isEmpty()) {
            s.add(Math.max(1, depth - 1));
        }
        return s;
    }

    /** A predictor-free sparsifier for the CLS-attention baseline on any model. */
    public static SparsifierConfig attentionOnly(int depth) {
        return new SparsifierConfig(defaultStages(depth), 0, 0.05, 1.0);
    }

    public boolean hasPredictors() {
        return predictorHidden > 0;
    }
}
