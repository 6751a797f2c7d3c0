package io.vitstream.controller.pruner;

import io.vitstream.engine.EngineKind;
import java.nio.file.Path;

/**
 * Settings of a prune job that are not the budget itself.
 *
 * @param dataDir Fashion-MNIST directory (calibration, fine-tuning and validation all come from its training split)
 * @param calibrationImages images used for saliency (a held-out slice of the training split, never the test set)
 * @param validationImages images held out of the training split for early stopping and the reported accuracy
 * @param trainImages images used for fine-tuning per epoch (0: all the rest of the training split)
 * @param epochs fine-tuning epochs (0: slice only)
 * @param batchSize fine-tuning batch size
 * @param learningRate peak AdamW learning rate of the fine-tune
 * @param temperature distillation temperature
 * @param distillWeight weight of the KL term; cross-entropy on labels gets {@code 1 - distillWeight}
 * @param patience epochs without a better validation accuracy before stopping early
 * @param seed for the data split and shuffling
 * @param engine what runs the job's evaluations (validation and test accuracy); training is always PyTorch's
 * @param hessianProbes Hutchinson probes of the Hessian diagonal ({@code hessian} saliency; two gradient passes over
 *     the calibration set each)
 * @param capDamping CAP's damping lambda as a share of the mean diagonal of each layer-input Hessian
 * @param masks the mask search of {@code vit-slim} and {@code x-pruner}
 */
public record PruneSettings(Path dataDir, int calibrationImages, int validationImages, int trainImages, int epochs,
        int batchSize, double learningRate, double temperature, double distillWeight, int patience, long seed,
        EngineKind engine, int hessianProbes, double capDamping, MaskSettings masks) {
    public static final int DEFAULT_HESSIAN_PROBES = 16;

    /** Checked up front, so a bad setting fails before minutes of saliency rather than at fine-tuning. */
    public PruneSettings {
        require(calibrationImages >= 1, "calibration images must be positive, got " + calibrationImages);
        require(validationImages >= 1, "validation images must be positive, got " + validationImages);
        require(trainImages >= 0, "training images must be >= 0 (0: all), got " + trainImages);
        require(epochs >= 0, "epochs must be >= 0, got " + epochs);
        require(batchSize >= 1, "batch size must be positive, got " + batchSize);
        require(learningRate > 0 && learningRate < 1, "learning rate must be in (0, 1), got " + learningRate);
        require(temperature >= 1, "distillation temperature must be >= 1, got " + temperature);
        require(distillWeight >= 0 && distillWeight <= 1, "distillation weight must be in [0, 1], got " + distillWeight);
        require(patience >= 1, "patience must be at least 1, got " + patience);
        require(hessianProbes >= 1, "Hessian probes must be positive, got " + hessianProbes);
        require(capDamping > 0 && capDamping <= 10, "CAP damping must be in (0, 10], got " + capDamping);
        if (engine == null) {
            engine = EngineKind.AUTO;
        }
        if (masks == null) {
            masks = MaskSettings.DEFAULTS;
        }
    }

    /** With the default mask search. */
    public PruneSettings(Path dataDir, int calibrationImages, int validationImages, int trainImages, int epochs,
            int batchSize, double learningRate, double temperature, double distillWeight, int patience, long seed,
            EngineKind engine, int hessianProbes, double capDamping) {
        this(dataDir, calibrationImages, validationImages, trainImages, epochs, batchSize, learningRate, temperature,
                distillWeight, patience, seed, engine, hessianProbes, capDamping, MaskSettings.DEFAULTS);
    }

    public PruneSettings withMasks(MaskSettings m) {
        return new PruneSettings(dataDir, calibrationImages, validationImages, trainImages, epochs, batchSize,
                learningRate, temperature, distillWeight, patience, seed, engine, hessianProbes, capDamping, m);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    public static PruneSettings defaults(Path dataDir) {
        return new PruneSettings(dataDir, 2048, 5000, 0, 6, 128, 2e-4, 4.0, 0.7, 2, 42L, EngineKind.AUTO,
                DEFAULT_HESSIAN_PROBES, CapPruner.DEFAULT_DAMPING);
    }
}
