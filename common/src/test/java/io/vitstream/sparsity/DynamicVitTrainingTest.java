package io.vitstream.sparsity;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import io.vitstream.data.FashionMnist;
import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.evaluation.Evaluator;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import io.vitstream.testing.TestData;
import io.vitstream.training.DynamicVitObjective;
import io.vitstream.training.TrainOptions;
import io.vitstream.training.VitTrainer;
import io.vitstream.util.Seeds;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** DynamicViT fine-tuning on real data: the predictors learn to follow the requested ratio, accuracy holds. */
@Tag("integration")
class DynamicVitTrainingTest {
    @Test
    void sparseFineTuningLearnsRatioConditionedPredictors() {
        LabeledImages train = FashionMnist.load(TestData.fashionMnist(), FashionMnist.Split.TRAIN).limit(2000);
        LabeledImages test = FashionMnist.load(TestData.fashionMnist(), FashionMnist.Split.TEST).limit(500);
        InputSpec input = InputSpec.fashionMnist();
        VitConfig config = VitConfig.uniform(28, 1, 7, 0, 32, 4, 2, 64, 10);
        SparsifierConfig sparsifier = new SparsifierConfig(List.of(1, 2), 16, 0.5, 1.0);
        Seeds.seedAll(17);
        try (VitModel teacher = VitModel.create(config); VitModel student = VitModel.create(config, sparsifier);
                NDManager scope = NDManager.newBaseManager()) {
            VitTrainer.train(teacher, input, train, null,
                    new TrainOptions(2, 32, 0.003f, 0.0001f, 0.01f, 0.2f, 0f, 0, false, 17), 0, false, null);
            double teacherAcc = Evaluator.evaluate(teacher, input, test, 100).accuracy();
            student.importWeights(teacher.exportWeights(scope), "teacher", true);

            List<Double> losses = new ArrayList<>();
            DynamicVitObjective objective = new DynamicVitObjective(student, teacher,
                    new DynamicVitObjective.Weights(2.0, 0.5, 0.5), 0f, 0.7);
            VitTrainer.train(student, input, train, null,
                    new TrainOptions(2, 32, 0.002f, 0.0001f, 0.01f, 0.2f, 0f, 0, false, 18), 0, false,
                    s -> losses.add(s.trainLoss()), objective);

            assertThat(losses).allSatisfy(l -> assertThat(l).isFinite());
            // Ratio conditioning: asked for fewer tokens, the first predictor keeps fewer, near the asked fraction.
            double keepAtHalf = meanKeepProbability(student, input, test, 0.5);
            double keepAtFull = meanKeepProbability(student, input, test, 1.0);
            assertThat(keepAtHalf).isLessThan(keepAtFull - 0.2).isBetween(0.25, 0.75);
            // At ratio 1.0 the student still classifies like its teacher; at 0.5 it stays well above chance.
            double dense = Evaluator.evaluate(student, input, test, 100, KeepPolicy.learned(1.0)).accuracy();
            double half = Evaluator.evaluate(student, input, test, 100, KeepPolicy.learned(0.5)).accuracy();
            assertThat(dense).isGreaterThan(teacherAcc - 0.08);
            assertThat(half).isGreaterThan(0.5);
        }
    }

    private static double meanKeepProbability(VitModel model, InputSpec input, LabeledImages data, double ratio) {
        int n = 100;
        int[] order = IntStream.range(0, n).toArray();
        try (NDManager scope = model.djlModel().getNDManager().newSubManager()) {
            NDArray x = scope.create(input.batch(data, order, 0, n), new Shape(n, 1, 28, 28));
            ParameterStore ps = new ParameterStore(scope, false);
            NDArray tokens = model.network().embed(ps, x, false);
            tokens = model.network().blocks().get(0).forward(ps, new NDList(tokens), false).get(0);
            NDArray patches = tokens.get(":, 1:, :");
            NDArray ones = patches.get(":, :, 0").onesLike();
            NDArray r = patches.get(":, :1, 0").onesLike().mul((float) ratio);
            NDArray logp = model.network().predictors().get(0).forward(ps, new NDList(patches, ones, r), false)
                    .singletonOrThrow();
            return logp.get(":, :, 0").exp().mean().getFloat();
        }
    }
}
