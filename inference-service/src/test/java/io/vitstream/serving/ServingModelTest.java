package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.engine.EngineKind;
import io.vitstream.engine.EngineOptions;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.sparsity.MergeSchedule;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A keep ratio the engine has not built yet never makes the caller wait: the nearest built one serves meanwhile; the
 * worker's token reducer decides how every ratio below 1.0 reduces tokens.
 */
class ServingModelTest {
    @TempDir
    Path dir;

    @Test
    void anUnseenKeepRatioIsBuiltInTheBackgroundWhileTheNearestBuiltOneServes() throws Exception {
        ModelArtifact.Loaded loaded = ModelArtifact.load(TestKafka.tinyModel(dir, "v1", 3));
        try (ServingModel m = new ServingModel(loaded, loaded.engine(EngineOptions.of(EngineKind.ONNXRUNTIME)))) {
            m.warmUp(4, java.util.List.of(0.75));
            // Warm-up seeds the service times of what it built, at the batch size it will serve.
            assertThat(m.times().batchMs(1.0, 4)).isPositive();
            assertThat(m.times().batchMs(0.75, 4)).isPositive();
            assertThat(m.times().measured(0.5)).isFalse();
            assertThat(m.servable(1.0)).isEqualTo(1.0);
            assertThat(m.servable(0.75)).isEqualTo(0.75);
            // 0.5 was never built: this batch runs at 0.75, the closest ratio that is ready, and 0.5 builds meanwhile.
            assertThat(m.servable(0.5)).isEqualTo(0.75);
            TestKafka.await("keep ratio 0.5 built", () -> m.servable(0.5) == 0.5, Duration.ofSeconds(30));
            float[][] logits = m.logits(new float[4 * 28 * 28], 4, 0.5);
            assertThat(logits).hasNumberOfRows(4);
            // Built synchronously when asked to (the follower does this before handing a new ratio to the loop).
            m.prepareKeepRatio(0.3);
            assertThat(m.servable(0.3)).isEqualTo(0.3);
        }
    }

    @Test
    void aTokenReducerAppliesToEveryRatioBelowOneAndLearnedNeedsPredictors() throws Exception {
        Path tiny = TestKafka.tinyModel(dir, "dense", 3);
        ModelArtifact.Loaded loaded = ModelArtifact.load(tiny);
        var engine = loaded.engine(EngineOptions.of(EngineKind.ONNXRUNTIME));
        try {
            assertThatThrownBy(() -> new ServingModel(loaded, engine, KeepPolicy.Method.LEARNED))
                    .hasMessage("model dense has no learned token predictors: token.reducer learned cannot serve it "
                            + "(auto falls back to cls-attention)");
        } finally {
            engine.close();
            loaded.close();
        }
        ModelArtifact.Loaded again = ModelArtifact.load(tiny);
        try (ServingModel grid = new ServingModel(again, again.engine(EngineOptions.of(EngineKind.ONNXRUNTIME)),
                KeepPolicy.Method.GRID_MERGE)) {
            assertThat(grid.policy(0.5).method()).isEqualTo(KeepPolicy.Method.GRID_MERGE);
            assertThat(grid.policy(1.0).isDense()).isTrue();
            MergeSchedule s = MergeSchedule.forPolicy(TestKafka.TINY,
                    SparsifierConfig.defaultStages(TestKafka.TINY.depth()), grid.policy(0.5));
            assertThat(grid.flops(0.5)).isEqualTo(s.flops());
            assertThat(grid.tokensKept(0.5)).containsExactlyElementsOf(
                    java.util.Arrays.stream(s.attentionTokens()).boxed().toList());
            grid.prepareKeepRatio(0.5);
            assertThat(grid.logits(new float[2 * 28 * 28], 2, 0.5)).hasNumberOfRows(2);
        }
    }
}
