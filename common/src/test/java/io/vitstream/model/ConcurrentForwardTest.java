package io.vitstream.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.pytorch.jni.JniUtils;
import io.vitstream.util.Seeds;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * A worker's inference lanes call {@link VitModel#logits} on one model from several threads at once: each call must
 * give exactly what it gives alone, and leave its thread's autograd mode as it found it (off inside the call).
 */
class ConcurrentForwardTest {
    /** The test kit's tiny model (io.vitstream.testkit.TestModels.TINY; common cannot depend on the kit). */
    private static final VitConfig TINY = VitConfig.uniform(28, 1, 7, 0, 16, 2, 2, 32, 10);

    @Test
    void forwardPassesSideBySideEqualTheSameCallsOneAtATime() throws Exception {
        Seeds.seedAll(3);
        try (VitModel model = VitModel.create(TINY)) {
            int batch = 5;
            List<float[]> inputs = new ArrayList<>();
            for (int k = 0; k < 6; k++) {
                float[] x = new float[batch * 28 * 28];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) Math.sin(i * 0.01 * (k + 1));
                }
                inputs.add(x);
            }
            KeepPolicy sparse = new KeepPolicy(0.6, KeepPolicy.Method.CLS_ATTENTION, false);
            List<float[][]> alone = new ArrayList<>();
            for (float[] x : inputs) {
                alone.add(model.logits(x, batch, sparse));
            }
            ExecutorService pool = Executors.newFixedThreadPool(3);
            try {
                for (int round = 0; round < 5; round++) {
                    List<Future<float[][]>> together = new ArrayList<>();
                    for (float[] x : inputs) {
                        together.add(pool.submit(() -> model.logits(x, batch, sparse)));
                    }
                    for (int k = 0; k < inputs.size(); k++) {
                        assertThat(together.get(k).get()).as("input %d, round %d", k, round).isDeepEqualTo(alone.get(k));
                    }
                }
            } finally {
                pool.shutdown();
            }
        }
    }

    @Test
    void leavesTheCallersAutogradModeAsItWas() throws Exception {
        Seeds.seedAll(4);
        try (VitModel model = VitModel.create(TINY)) {
            float[] x = new float[2 * 28 * 28];
            for (boolean mode : new boolean[] {true, false}) {
                boolean[] after = new boolean[1];
                Thread t = new Thread(() -> {
                    JniUtils.setGradMode(mode);
                    model.logits(x, 2);
                    after[0] = JniUtils.isGradMode();
                });
                t.start();
                t.join();
                assertThat(after[0]).as("grad mode after a call made with it %s", mode).isEqualTo(mode);
            }
        }
    }
}
