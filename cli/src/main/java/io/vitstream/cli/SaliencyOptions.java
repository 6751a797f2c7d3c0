package io.vitstream.cli;

import io.vitstream.controller.pruner.CapPruner;
import io.vitstream.controller.pruner.MaskSettings;
import io.vitstream.controller.pruner.PruneSettings;
import io.vitstream.util.UserError;
import picocli.CommandLine.Option;

/**
 * The settings of the saliency measures that cost passes of their own (the Hessian diagonal, CAP, the ViT-Slim and
 * X-Pruner mask searches), shared by {@code prune}, {@code bench prune} and {@code bench methods}.
 */
public final class SaliencyOptions {
    @Option(names = "--hessian-probes", defaultValue = "" + PruneSettings.DEFAULT_HESSIAN_PROBES,
            description = "Hutchinson probes of the Hessian diagonal for hessian, two gradient passes over the "
                    + "calibration images each (default: ${DEFAULT-VALUE}).")
    public int hessianProbes;

    @Option(names = "--cap-damping", defaultValue = "" + CapPruner.DEFAULT_DAMPING,
            description = "CAP's damping lambda as a share of the mean diagonal of each layer-input Hessian "
                    + "(default: ${DEFAULT-VALUE}).")
    public double capDamping;

    @Option(names = "--mask-epochs", defaultValue = "" + MaskSettings.DEFAULT_EPOCHS,
            description = "Mask-search epochs for vit-slim and x-pruner (default: ${DEFAULT-VALUE}).")
    int maskEpochs;

    @Option(names = "--mask-images", defaultValue = "" + MaskSettings.DEFAULT_IMAGES,
            description = "Mask-search images per epoch, from the fine-tuning part of the training split "
                    + "(default: ${DEFAULT-VALUE}).")
    int maskImages;

    @Option(names = "--mask-lr", defaultValue = "" + MaskSettings.DEFAULT_LEARNING_RATE,
            description = "The masks' own Adam learning rate (default: ${DEFAULT-VALUE}); ViT-Slim's weights train "
                    + "at the fine-tune's learning rate.")
    double maskLr;

    @Option(names = "--mask-l1-scale", defaultValue = "" + MaskSettings.DEFAULT_L1_SCALE,
            description = "Factor on the L1 weights: ViT-Slim's 2e-4 (attention) and 5e-5 (MLP) on DeiT-S, scaled "
                    + "by DeiT-S's mask entries over this model's (1.6e-3 and 8e-4 on models/sparse) "
                    + "(default: ${DEFAULT-VALUE}).")
    double maskL1Scale;

    /** The mask-search settings; bad values are one line naming the options. */
    public MaskSettings checked() {
        if (hessianProbes < 1) {
            throw new UserError("--hessian-probes must be positive, got " + hessianProbes);
        }
        if (!(capDamping > 0 && capDamping <= 10)) {
            throw new UserError("--cap-damping must be in (0, 10], got " + capDamping);
        }
        try {
            return new MaskSettings(maskEpochs, maskImages, maskLr, maskL1Scale);
        } catch (IllegalArgumentException e) {
            throw new UserError("--mask-*: " + e.getMessage());
        }
    }
}
