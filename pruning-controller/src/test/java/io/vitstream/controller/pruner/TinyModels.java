package io.vitstream.controller.pruner;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.vitstream.model.BlockConfig;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import java.util.List;
import java.util.Random;

/** Tiny heterogeneous models with every weight (biases and norms included) random, so slicing mistakes show. */
final class TinyModels {
    /** 28x28 grey, a stem of 3 then 4 channels, 7x7 patches (16 + CLS tokens), dim 12, four blocks of differing shapes. */
    static final VitConfig CONFIG = new VitConfig(28, 1, 7, 0, 0, 12, 10, List.of(
            new BlockConfig(3, 4, 16), new BlockConfig(2, 5, 12), new BlockConfig(3, 4, 20),
            new BlockConfig(4, 3, 8)), List.of(3, 4));
    static final SparsifierConfig SPARSIFIER = new SparsifierConfig(List.of(1, 2), 8, 0.5, 1.0);

    private TinyModels() {}

    static VitModel randomModel(SparsifierConfig sparsifier, long seed) {
        VitModel model = VitModel.create(CONFIG, sparsifier);
        Random rng = new Random(seed);
        try (NDManager scope = model.djlModel().getNDManager().newSubManager()) {
            NDList weights = model.exportWeights(scope);
            NDList random = new NDList();
            for (NDArray w : weights) {
                float[] v = new float[(int) w.size()];
                boolean norm = w.getName().contains("norm") && w.getName().endsWith("gamma");
                for (int i = 0; i < v.length; i++) {
                    v[i] = norm ? 1f + 0.2f * (float) rng.nextGaussian() : 0.3f * (float) rng.nextGaussian();
                }
                NDArray a = scope.create(v, w.getShape());
                a.setName(w.getName());
                random.add(a);
            }
            model.importWeights(random, "random");
        }
        return model;
    }

    /** Deterministic, image-like pixels (already normalised), batch x 28 x 28. */
    static float[] images(int batch, long seed) {
        Random rng = new Random(seed);
        float[] px = new float[batch * 28 * 28];
        for (int i = 0; i < px.length; i++) {
            px[i] = (float) (Math.sin(i * 0.011 * ((i / 784) + 1)) + 0.3 * rng.nextGaussian());
        }
        return px;
    }
}
