package io.vitstream.artifact;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.data.FashionMnist;
import io.vitstream.data.LabeledImages;
import io.vitstream.evaluation.EvalResult;
import io.vitstream.evaluation.Evaluator;
import io.vitstream.model.FlopCounter;
import io.vitstream.testing.TestData;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The committed dense base model: loads, verifies, and keeps its accuracy on the full 10,000-image test set. */
@Tag("integration")
class BaseModelTest {
    @Test
    void committedBaseModelScoresAtLeast91PercentOnTheFullTestSet() {
        LabeledImages test = FashionMnist.load(TestData.fashionMnist(), FashionMnist.Split.TEST);
        assertThat(test.count()).isEqualTo(10_000);
        try (ModelArtifact.Loaded base = ModelArtifact.load(TestData.repoRoot().resolve("models/base"))) {
            assertThat(base.manifest().flopsPerImage())
                    .isEqualTo(FlopCounter.perImage(base.manifest().architecture()))
                    .isLessThanOrEqualTo(60_000_000L);
            assertThat(base.manifest().architecture().depth()).isGreaterThanOrEqualTo(5);
            EvalResult r = Evaluator.evaluate(base.model(), base.manifest().input(), test, 256);
            assertThat(r.accuracy()).isGreaterThanOrEqualTo(0.910);
            // The manifest records what this evaluation measures (within 20 images: other CPUs may round differently).
            assertThat(r.accuracy()).isCloseTo(base.manifest().testAccuracy(), org.assertj.core.data.Offset.offset(0.002));
        }
    }
}
