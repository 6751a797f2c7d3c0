package io.vitstream.controller.pruner;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.vitstream.data.InputSpec;
import io.vitstream.data.LabeledImages;
import io.vitstream.model.BlockConfig;
import io.vitstream.model.TransformerBlock;
import io.vitstream.model.VitConfig;
import io.vitstream.model.VitModel;
import io.vitstream.training.DistillationObjective;
import io.vitstream.training.Objective;
import io.vitstream.training.TrainOptions;
import io.vitstream.training.VitTrainer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.DoubleConsumer;

/**
 * Learned masks that score heads and MLP neurons: ViT-Slim's search and X-Pruner's per-class masks. Both train on a
 * copy of the parent with the parent as distillation teacher ({@code (1 - w) CE + w T^2 KL}, the fine-tune's
 * settings) plus an L1 penalty on the masks; the masks (initialised to 1, unconstrained) are updated by their own Adam
 * step after every optimiser step ({@link Objective#afterStep}).
 *
 * <ul>
 *   <li>ViT-Slim (Chavan et al., 2022): a mask of shape (H, Dh) per block multiplies q, k and v alike
 *       ({@code Attention.setQkvGate}), a mask of shape (M) the MLP's GELU output; the weights train jointly
 *       (AdamW at the fine-tune's learning rate). Our slicer removes whole heads (every head of a block has one
 *       width, {@code BlockConfig.headDim}), so a head scores the mean |mask| over its Dh dimensions (its L1 / Dh); a
 *       neuron scores |mask|. The search-trained weights are the ones sliced (kept gates set to 1: no gate at all).
 *   <li>X-Pruner (Yu and Xiang, 2023): a mask per class on every head's output and every neuron, (C, H) and (C, M) per
 *       block; each image is gated by the row of its label (one-hot times mask, so only the label's row gets any
 *       gradient, the penalty included: it is the L1 of the rows the batch uses). The weights are held (learning rate
 *       0): trained with label-selected gates, the network could learn to read the label from them. A unit scores
 *       the sum over classes of |mask|; the parent's weights are the ones sliced.
 * </ul>
 *
 * <p>L1 weights: the authors' 2e-4 (attention entries) and 5e-5 (MLP units) on DeiT-S, scaled by the ratio of
 * DeiT-S's mask entries to ours, so that each mask type's penalty at initialisation is the same as there (about 0.92
 * each, beside a loss near 1): on our 6 x 4 x 24 attention entries and 6 x 192 MLP units, 1.6e-3 and 8e-4. X-Pruner's
 * per-class head mask gets the attention weight times Dh (a head's gate stands for its Dh entries), its neuron masks
 * the MLP weight; its code is not public, so these are ours.
 */
public final class MaskSearch {
    /** ViT-Slim's weights on DeiT-S and the mask entries they were set for (12 blocks, 6 heads of 64, MLP 1536). */
    static final double DEIT_S_ATTENTION_L1 = 2e-4;
    static final double DEIT_S_MLP_L1 = 5e-5;
    static final int DEIT_S_ATTENTION_ENTRIES = 12 * 6 * 64;
    static final int DEIT_S_MLP_ENTRIES = 12 * 1536;
    private static final double BETA1 = 0.9;
    private static final double BETA2 = 0.999;
    private static final double EPS = 1e-8;

    private MaskSearch() {}

    /** L1 weights per mask entry: {@code attention} per (head, dim) entry, {@code mlp} per hidden unit. */
    public record L1(double attention, double mlp) {}

    /** The authors' weights scaled to {@code c} (see the class comment), times {@code scale}. */
    public static L1 scaledL1(VitConfig c, double scale) {
        long attention = 0;
        long mlp = 0;
        for (BlockConfig b : c.blocks()) {
            attention += (long) b.heads() * b.headDim();
            mlp += b.mlpDim();
        }
        return new L1(scale * DEIT_S_ATTENTION_L1 * DEIT_S_ATTENTION_ENTRIES / attention,
                scale * DEIT_S_MLP_L1 * DEIT_S_MLP_ENTRIES / mlp);
    }

    /**
     * What a search learned.
     *
     * @param scores one per group of {@link Group#all}: heads and neurons scored, blocks and stem channels 0 (never
     *     ranked by a mask method)
     * @param attention ViT-Slim: per block the (H * Dh) mask, row-major; X-Pruner: per block the (C * H) masks
     * @param mlp ViT-Slim: per block the (M) mask; X-Pruner: per block the (C * M) masks
     * @param searched ViT-Slim's search-trained copy of the parent (what is sliced), null for X-Pruner
     * @param report settings and outcome, for the manifest
     */
    public record Result(Saliency.Method method, double[] scores, float[][] attention, float[][] mlp,
            VitModel searched, Map<String, Object> report) implements AutoCloseable {
        @Override
        public void close() {
            if (searched != null) {
                searched.close();
            }
        }
    }

    /**
     * Trains the masks of {@code method} on {@code train} (ViT-Slim also reports accuracy on {@code validation} after
     * each epoch, masks applied; X-Pruner's label-selected masks have no label-free accuracy).
     *
     * @param s batch size, learning rate, distillation settings and seed; {@code s.masks()} the search's own
     * @param progress receives the share of steps done
     */
    public static Result search(Saliency.Method method, VitModel parent, InputSpec input, LabeledImages train,
            LabeledImages validation, PruneSettings s, DoubleConsumer progress) {
        if (!method.searchesMasks()) {
            throw new IllegalArgumentException(method.id() + " does not search masks");
        }
        MaskSettings ms = s.masks();
        VitConfig c = parent.config();
        L1 l1 = scaledL1(c, ms.l1Scale());
        VitModel student = VitModel.create(c, parent.network().sparsifier());
        boolean done = false;
        try (NDManager masks = student.djlModel().getNDManager().newSubManager()) {
            try (NDManager scope = parent.djlModel().getNDManager().newSubManager()) {
                student.importWeights(parent.exportWeights(scope), "parent " + method.id() + " search");
            }
            student.network().predictors().forEach(p -> p.freezeParameters(true)); // unused on the dense path
            DistillationObjective task = new DistillationObjective(parent, s.temperature(), s.distillWeight(), 0f);
            MaskObjective objective = method == Saliency.Method.VIT_SLIM
                    ? new SlimObjective(task, student, masks, l1, ms.learningRate())
                    : new XPrunerObjective(task, student, masks, l1, ms.learningRate());
            int images = Math.min(ms.images(), train.count());
            TrainOptions options = new TrainOptions(ms.epochs(), s.batchSize(), (float) s.learningRate(),
                    (float) s.learningRate() / 20, 0.05f, Math.min(0.3f, ms.epochs()), 0f, 2, true, s.seed() + 2);
            List<Double> validationAccuracy = new ArrayList<>();
            VitTrainer.train(student, input, train.limit(images),
                    method == Saliency.Method.VIT_SLIM ? validation : null, options, 0, false,
                    new VitTrainer.EpochListener() {
                        @Override
                        public void onEpoch(VitTrainer.EpochStats e) {
                            if (!Double.isNaN(e.validationAccuracy())) {
                                validationAccuracy.add(e.validationAccuracy());
                            }
                        }

                        @Override
                        public void onStep(int epoch, int step, int steps, double loss) {
                            progress.accept((epoch + (step + 1.0) / steps) / ms.epochs());
                        }
                    }, objective);
            objective.clearGates();
            student.network().predictors().forEach(p -> p.freezeParameters(false));
            float[][] attention = objective.values(objective.attentionMasks);
            float[][] mlp = objective.values(objective.mlpMasks);
            double[] scores = scores(method, c, attention, mlp);
            Map<String, Object> report = new LinkedHashMap<>();
            report.put("method", method.id());
            report.put("images", images);
            report.put("epochs", ms.epochs());
            report.put("mask_learning_rate", ms.learningRate());
            report.put("l1_scale", ms.l1Scale());
            report.put("l1_attention_entry", l1.attention());
            report.put("l1_mlp_unit", l1.mlp());
            report.put("weights", method == Saliency.Method.VIT_SLIM ? "trained jointly, learning rate "
                    + s.learningRate() : "held (learning rate 0)");
            report.put("mask_mean_attention", mean(attention));
            report.put("mask_mean_mlp", mean(mlp));
            if (!validationAccuracy.isEmpty()) {
                report.put("validation_accuracy_masked_per_epoch", validationAccuracy);
            }
            done = true;
            return new Result(method, scores, attention, mlp, method == Saliency.Method.VIT_SLIM ? student : null,
                    report);
        } finally {
            if (!done || method != Saliency.Method.VIT_SLIM) {
                student.close();
            }
        }
    }

    /** Head and neuron scores from the masks, aligned with {@link Group#all}. */
    static double[] scores(Saliency.Method method, VitConfig c, float[][] attention, float[][] mlp) {
        List<Group> groups = Group.all(c);
        double[] out = new double[groups.size()];
        int classes = c.numClasses();
        for (int g = 0; g < groups.size(); g++) {
            Group x = groups.get(g);
            if (x.kind() != Group.Kind.HEAD && x.kind() != Group.Kind.NEURON) {
                continue;
            }
            BlockConfig bc = c.blocks().get(x.block());
            float[] m = x.kind() == Group.Kind.HEAD ? attention[x.block()] : mlp[x.block()];
            int units = x.kind() == Group.Kind.HEAD ? bc.heads() : bc.mlpDim();
            double sum = 0;
            if (method == Saliency.Method.VIT_SLIM && x.kind() == Group.Kind.HEAD) {
                for (int d = 0; d < bc.headDim(); d++) {
                    sum += Math.abs(m[x.index() * bc.headDim() + d]);
                }
                sum /= bc.headDim();
            } else if (method == Saliency.Method.VIT_SLIM) {
                sum = Math.abs(m[x.index()]);
            } else {
                for (int k = 0; k < classes; k++) {
                    sum += Math.abs(m[k * units + x.index()]);
                }
            }
            out[g] = sum;
        }
        return out;
    }

    private static double mean(float[][] a) {
        double sum = 0;
        long n = 0;
        for (float[] row : a) {
            for (float v : row) {
                sum += v;
                n++;
            }
        }
        return n == 0 ? 0 : sum / n;
    }

    /** Distillation plus an L1 on the masks; the masks get their own Adam step after each optimiser step. */
    abstract static class MaskObjective implements Objective {
        final DistillationObjective task;
        final VitModel student;
        final L1 l1;
        final double learningRate;
        final List<NDArray> attentionMasks = new ArrayList<>();
        final List<NDArray> mlpMasks = new ArrayList<>();
        private final List<float[]> first = new ArrayList<>();
        private final List<float[]> second = new ArrayList<>();
        private final NDManager manager;
        private int steps;

        MaskObjective(DistillationObjective task, VitModel student, NDManager manager, L1 l1, double learningRate) {
            this.task = task;
            this.student = student;
            this.manager = manager;
            this.l1 = l1;
            this.learningRate = learningRate;
        }

        NDArray mask(Shape shape, List<NDArray> into) {
            NDArray a = manager.ones(shape);
            a.setRequiresGradient(true);
            into.add(a);
            return a;
        }

        abstract NDArray penalty();

        abstract void clearGates();

        @Override
        public NDArray loss(NDList outputs, NDArray pixels, NDArray labels) {
            return task.loss(outputs, pixels, labels).add(penalty());
        }

        /** Adam on every mask (bias-corrected, no decay), then their gradients back to zero. */
        @Override
        public void afterStep() {
            steps++;
            double c1 = 1 - Math.pow(BETA1, steps);
            double c2 = 1 - Math.pow(BETA2, steps);
            List<NDArray> all = new ArrayList<>(attentionMasks);
            all.addAll(mlpMasks);
            while (first.size() < all.size()) {
                first.add(new float[(int) all.get(first.size()).size()]);
                second.add(new float[(int) all.get(second.size()).size()]);
            }
            try (NDManager scope = manager.newSubManager()) {
                for (int i = 0; i < all.size(); i++) {
                    NDArray mask = all.get(i);
                    NDArray g = mask.getGradient();
                    g.attach(scope); // the handle only; the storage stays with the mask
                    float[] gv = g.toFloatArray();
                    g.subi(g); // PyTorch accumulates gradients
                    float[] m = first.get(i);
                    float[] v = second.get(i);
                    float[] step = new float[gv.length];
                    for (int j = 0; j < gv.length; j++) {
                        m[j] = (float) (BETA1 * m[j] + (1 - BETA1) * gv[j]);
                        v[j] = (float) (BETA2 * v[j] + (1 - BETA2) * gv[j] * gv[j]);
                        step[j] = (float) (learningRate * (m[j] / c1) / (Math.sqrt(v[j] / c2) + EPS));
                    }
                    // In place through a detached view (same storage): an in-place update of a leaf that needs its
                    // gradient is refused whenever the thread's autograd mode is on, as an optimiser's no_grad step.
                    NDArray data = mask.stopGradient();
                    data.attach(scope);
                    data.subi(scope.create(step, mask.getShape()));
                }
            }
        }

        float[][] values(List<NDArray> masks) {
            float[][] out = new float[masks.size()][];
            for (int i = 0; i < masks.size(); i++) {
                out[i] = masks.get(i).toFloatArray();
            }
            return out;
        }
    }

    /** ViT-Slim: (H, Dh) masks on q/k/v and (M) masks on the MLP, set once; the weights train with them. */
    static final class SlimObjective extends MaskObjective {
        SlimObjective(DistillationObjective task, VitModel student, NDManager manager, L1 l1, double learningRate) {
            super(task, student, manager, l1, learningRate);
            List<TransformerBlock> blocks = student.network().blocks();
            for (int b = 0; b < blocks.size(); b++) {
                BlockConfig bc = student.config().blocks().get(b);
                blocks.get(b).attention().setQkvGate(mask(new Shape(bc.heads(), bc.headDim()), attentionMasks));
                blocks.get(b).mlp().setNeuronGate(mask(new Shape(bc.mlpDim()), mlpMasks));
            }
        }

        @Override
        NDArray penalty() {
            NDArray sum = null;
            for (int b = 0; b < attentionMasks.size(); b++) {
                NDArray term = attentionMasks.get(b).abs().sum().mul((float) l1.attention())
                        .add(mlpMasks.get(b).abs().sum().mul((float) l1.mlp()));
                sum = sum == null ? term : sum.add(term);
            }
            return sum;
        }

        @Override
        void clearGates() {
            for (TransformerBlock block : student.network().blocks()) {
                block.attention().setQkvGate(null);
                block.mlp().setNeuronGate(null);
            }
        }
    }

    /**
     * X-Pruner: (C, H) and (C, M) masks per block; each image's gates are its label's rows (one-hot x mask, set for the
     * batch inside the gradient recording); the weights are held.
     */
    static final class XPrunerObjective extends MaskObjective {
        private final List<NDArray> headGates = new ArrayList<>();
        private final List<NDArray> neuronGates = new ArrayList<>();
        private final int classes;
        private long batch;

        XPrunerObjective(DistillationObjective task, VitModel student, NDManager manager, L1 l1,
                double learningRate) {
            super(task, student, manager, l1, learningRate);
            classes = student.config().numClasses();
            for (BlockConfig bc : student.config().blocks()) {
                mask(new Shape(classes, bc.heads()), attentionMasks);
                mask(new Shape(classes, bc.mlpDim()), mlpMasks);
            }
        }

        @Override
        public float learningRateScale(String parameterName) {
            return 0f;
        }

        @Override
        public void beforeForward(NDArray pixels, NDArray labels) {
            NDArray oneHot = labels.oneHot(classes); // (B, C)
            batch = labels.size();
            headGates.clear();
            neuronGates.clear();
            List<TransformerBlock> blocks = student.network().blocks();
            for (int b = 0; b < blocks.size(); b++) {
                NDArray h = oneHot.matMul(attentionMasks.get(b)); // (B, H): the label's row
                NDArray n = oneHot.matMul(mlpMasks.get(b)); // (B, M)
                blocks.get(b).attention().setHeadGate(h);
                blocks.get(b).mlp().setNeuronGate(n);
                headGates.add(h);
                neuronGates.add(n);
            }
        }

        @Override
        NDArray penalty() {
            NDArray sum = null;
            for (int b = 0; b < headGates.size(); b++) {
                double headWeight = l1.attention() * student.config().blocks().get(b).headDim();
                NDArray term = headGates.get(b).abs().sum().mul((float) (headWeight / batch))
                        .add(neuronGates.get(b).abs().sum().mul((float) (l1.mlp() / batch)));
                sum = sum == null ? term : sum.add(term);
            }
            return sum;
        }

        @Override
        public void afterStep() {
            clearGates(); // the batch's gates die with its scope
            super.afterStep();
        }

        @Override
        void clearGates() {
            for (TransformerBlock block : student.network().blocks()) {
                block.attention().setHeadGate(null);
                block.mlp().setNeuronGate(null);
            }
            headGates.clear();
            neuronGates.clear();
        }
    }
}
