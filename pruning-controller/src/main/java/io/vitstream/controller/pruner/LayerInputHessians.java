package io.vitstream.controller.pruner;

import ai.djl.ndarray.NDArray;
import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.model.BlockConfig;
import io.vitstream.model.TransformerBlock;
import io.vitstream.model.VitModel;
import java.util.ArrayList;
import java.util.List;
import java.util.function.DoubleConsumer;
import java.util.stream.IntStream;

/**
 * Per block, the input Hessians {@code H = (2/n) X X^T} of the two layers that consume prunable units, over the n
 * tokens of the calibration images (dense path): {@code fc2}, whose input columns are the MLP's neurons (M), and the
 * attention projection, whose input columns are the heads' outputs (head_dim contiguous columns per head, H * Dh in
 * all). Each has one more, last, row and column for a constant input of 1, the layer's bias, so that an OBS
 * correction may move the bias too (the removed units' mean contribution is what it absorbs). {@code H} is the Hessian
 * of {@code (1/n) ||(W' - W) X||^2} in each output row of {@code W'}: the layer-wise reconstruction loss of OBC,
 * SparseGPT and CAP's structured step. Undamped; the damping is the caller's.
 *
 * @param fc2 per parent block, (M + 1) x (M + 1)
 * @param proj per parent block, (H * Dh + 1) x (H * Dh + 1)
 * @param tokens n, the calibration tokens averaged over (images x tokens per image)
 */
public record LayerInputHessians(List<double[][]> fc2, List<double[][]> proj, long tokens) {
    /** Images per forward pass while collecting (memory only). */
    static final int BATCH = 128;

    public LayerInputHessians {
        fc2 = List.copyOf(fc2);
        proj = List.copyOf(proj);
    }

    /**
     * One forward pass over {@code calibration} (no gradients) with taps on every block's fc2 and projection inputs.
     *
     * @param progress receives the share of images done, in [0, 1]
     */
    public static LayerInputHessians collect(VitModel model, InputSpec input, LabeledImages calibration,
            DoubleConsumer progress) {
        int n = calibration.count();
        if (n < 1) {
            throw new IllegalArgumentException("the layer-input Hessians need at least one calibration image");
        }
        List<TransformerBlock> blocks = model.network().blocks();
        List<double[][]> fc2 = new ArrayList<>();
        List<double[][]> proj = new ArrayList<>();
        for (int b = 0; b < blocks.size(); b++) {
            BlockConfig bc = model.config().blocks().get(b);
            double[][] f = new double[bc.mlpDim() + 1][bc.mlpDim() + 1];
            double[][] p = new double[bc.attentionDim() + 1][bc.attentionDim() + 1];
            fc2.add(f);
            proj.add(p);
            blocks.get(b).mlp().setFc2InputTap(x -> accumulate(x, f));
            blocks.get(b).attention().setProjectionInputTap(x -> accumulate(x, p));
        }
        int[] order = IntStream.range(0, n).toArray();
        try {
            for (int from = 0; from < n; from += BATCH) {
                int to = Math.min(n, from + BATCH);
                model.logits(input.batch(calibration, order, from, to), to - from);
                progress.accept((double) to / n);
            }
        } finally {
            for (TransformerBlock block : blocks) {
                block.mlp().setFc2InputTap(null);
                block.attention().setProjectionInputTap(null);
            }
        }
        long tokens = (long) n * model.config().numTokens();
        for (List<double[][]> layers : List.of(fc2, proj)) {
            for (double[][] h : layers) {
                for (double[] row : h) {
                    for (int j = 0; j < row.length; j++) {
                        row[j] *= 2.0 / tokens;
                    }
                }
            }
        }
        return new LayerInputHessians(fc2, proj, tokens);
    }

    /** Adds {@code [X 1]^T [X 1]} of a batch's layer input (B, N, C) into {@code into} ((C + 1) x (C + 1)). */
    private static void accumulate(NDArray x, double[][] into) {
        long c = x.getShape().get(2);
        NDArray rows = x.reshape(-1, c);
        NDArray augmented = rows.concat(rows.getManager().ones(new ai.djl.ndarray.types.Shape(rows.getShape().get(0),
                1), rows.getDataType(), rows.getDevice()), 1);
        float[] g = augmented.transpose().matMul(augmented).toFloatArray();
        int width = (int) c + 1;
        for (int i = 0; i < width; i++) {
            for (int j = 0; j < width; j++) {
                into[i][j] += g[i * width + j];
            }
        }
    }
}
