package io.vitstream.training;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.data.FashionMnist;
import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.evaluation.EvalResult;
import io.vitstream.evaluation.Evaluator;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import io.vitstream.testing.TestData;
import io.vitstream.util.Seeds;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** A tiny ViT learns Fashion-MNIST: a few hundred AdamW steps on a 4,000-image subset. */
@Tag("integration")
class TinyTrainingTest {
    @Test
    void tinyVitLearnsWellAboveChanceAndLossFalls() {
        LabeledImages train = FashionMnist.load(TestData.fashionMnist(), FashionMnist.Split.TRAIN).limit(4000);
        LabeledImages test = FashionMnist.load(TestData.fashionMnist(), FashionMnist.Split.TEST).limit(1000);
        VitConfig config = VitConfig.uniform(28, 1, 7, 0, 32, 2, 2, 64, 10);
        TrainOptions options = new TrainOptions(3, 32, 0.003f, 0.0001f, 0.01f, 0.3f, 0.0f, 0, false, 11);
        InputSpec input = InputSpec.fashionMnist();
        Seeds.seedAll(11);
        List<Double> losses = new ArrayList<>();
        try (VitModel model = VitModel.create(config)) {
            EvalResult before = Evaluator.evaluate(model, input, test, 100);
            VitTrainer.train(model, input, train, null, options, 0, false, s -> losses.add(s.trainLoss()));
            EvalResult after = Evaluator.evaluate(model, input, test, 100);

            assertThat(losses).hasSize(3);
            // 375 steps with seed 11: measured 0.646 test accuracy (1,000 images); chance is 0.10.
            assertThat(after.accuracy()).as("accuracy after training").isGreaterThan(0.55);
            assertThat(before.accuracy()).as("accuracy before training").isLessThan(0.3);
            assertThat(losses.get(2)).as("last epoch's mean loss").isLessThan(losses.get(0) * 0.8);
            assertThat(losses.get(0)).isLessThan(Math.log(10) + 0.1);
        }
    }
}
