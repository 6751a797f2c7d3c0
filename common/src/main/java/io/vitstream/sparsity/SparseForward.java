package io.vitstream.sparsity;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.training.ParameterStore;
import io.vitstream.model.Attention;
import io.vitstream.model.FlopCounter;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.TokenPredictor;
import io.vitstream.model.TransformerBlock;
import io.vitstream.model.VisionTransformer;
import io.vitstream.model.VitConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * Forward passes of a {@link VisionTransformer} with dynamic token sparsification.
 *
 * <p>Inference ({@link #infer}): before each sparsifier stage, every input keeps its own top-k patch tokens, with
 * k = round(ratio x patches entering the stage), the same k across the batch so tensors stay dense (B, 1 + k, D) on
 * CPU and GPU alike; the kept tokens are gathered in their original order and the next blocks run on fewer tokens.
 * At ratio 1.0 no selection runs and the result equals the dense forward exactly.
 *
 * <p>Training ({@link #train}): shapes stay fixed; Gumbel-softmax keep decisions (straight-through, hard in the
 * forward pass) become a policy that masks attention, so dropped tokens stop influencing kept ones while gradients
 * reach the predictors.
 */
public final class SparseForward {
    private SparseForward() {}

    /** Patch tokens kept at each stage for {@code numPatches} input patches. */
    public static int[] patchesPerStage(int numPatches, List<Integer> stages, double ratio) {
        int[] kept = new int[stages.size()];
        int n = numPatches;
        for (int s = 0; s < stages.size(); s++) {
            n = keepCount(n, ratio);
            kept[s] = n;
        }
        return kept;
    }

    /** k for n candidate tokens: round(ratio x n), at least 1, at most n. */
    public static int keepCount(int n, double ratio) {
        return Math.max(1, Math.min(n, (int) Math.round(ratio * n)));
    }

    /**
     * Tokens (CLS, patches and package token) entering each block; for a merging policy, those entering each block's
     * attention ({@link MergeSchedule#attentionTokens}).
     */
    public static int[] tokensPerBlock(VitConfig config, List<Integer> stages, KeepPolicy policy) {
        if (policy.merges()) {
            return MergeSchedule.forPolicy(config, stages, policy).attentionTokens();
        }
        int[] tokens = new int[config.depth()];
        int patches = config.numPatches();
        int extra = 1; // CLS
        int s = 0;
        for (int i = 0; i < config.depth(); i++) {
            if (s < stages.size() && stages.get(s) == i) {
                int k = keepCount(patches, policy.keepRatio());
                if (k < patches && policy.packageToken() && extra == 1) {
                    extra = 2;
                }
                patches = k;
                s++;
            }
            tokens[i] = patches + extra;
        }
        return tokens;
    }

    /**
     * FLOPs per image at this policy, token predictors (or a merging policy's matching) included (2 FLOPs per
     * multiply-add).
     */
    public static long flopsPerImage(VitConfig config, SparsifierConfig sparsifier, KeepPolicy policy) {
        if (policy.isDense() || sparsifier == null) {
            return FlopCounter.perImage(config);
        }
        if (policy.merges()) {
            return MergeSchedule.forPolicy(config, sparsifier.stages(), policy).flops();
        }
        long flops = FlopCounter.perImage(config, tokensPerBlock(config, sparsifier.stages(), policy));
        if (policy.method() == KeepPolicy.Method.LEARNED) {
            int patches = config.numPatches();
            for (int s = 0; s < sparsifier.stages().size(); s++) {
                flops += 2 * patches * TokenPredictor.macsPerToken(config.dim(), sparsifier.predictorHidden());
                patches = keepCount(patches, policy.keepRatio());
            }
        }
        return flops;
    }

    /**
     * Stages used by {@code policy} on {@code net}: the model's own, or the default ones for the baseline; for a merging
     * policy, the stages whose dropping FLOPs set its merge budget ({@link MergeSchedule#forPolicy}).
     */
    public static SparsifierConfig stagesFor(VisionTransformer net, KeepPolicy policy) {
        return stagesFor(net.config(), net.sparsifier(), policy);
    }

    /**
     * Stages used by {@code policy} on a model of {@code config} with sparsifier {@code own} (null: none): its own,
     * or the default ones for the baseline and the merging methods.
     *
     * @throws IllegalArgumentException learned selection below 1.0 on a model without token predictors
     */
    public static SparsifierConfig stagesFor(VitConfig config, SparsifierConfig own, KeepPolicy policy) {
        if (policy.method() == KeepPolicy.Method.LEARNED) {
            if (!policy.isDense() && (own == null || !own.hasPredictors())) {
                throw new IllegalArgumentException("this model has no learned token predictors: use keep ratio 1.0 or "
                        + "the cls-attention method");
            }
            return own;
        }
        return own != null ? own : SparsifierConfig.attentionOnly(config.depth());
    }

    /**
     * Inference with per-input top-k token selection.
     *
     * @param pixels (B, C, H, W) normalised images
     * @return (B, K) logits
     */
    public static NDArray infer(VisionTransformer net, ParameterStore ps, NDArray pixels, KeepPolicy policy) {
        return infer(net, ps, pixels, policy, null);
    }

    /**
     * Per-input top-k selection: for each row b, the indices of its k highest {@code scores}, in ascending order.
     *
     * @param scores (B, n)
     * @return (B, k) int64 indices
     */
    public static NDArray topKIndices(NDArray scores, int k) {
        return scores.topK(k, 1, true, false).get(1).sort(1);
    }

    /** Gathers tokens (B, n, D) at per-row indices (B, k) into (B, k, D). */
    public static NDArray gatherTokens(NDArray tokens, NDArray index) {
        Shape shape = tokens.getShape();
        long b = shape.get(0);
        long n = shape.get(1);
        long d = shape.get(2);
        long k = index.getShape().get(1);
        // Rows of the flattened (B * n, D) tokens: one index_select instead of an index repeated D times for gather.
        NDArray rowStarts = index.getManager().arange(0f, b * n, n, DataType.INT64, index.getDevice()).reshape(b, 1);
        NDArray rows = index.add(rowStarts).reshape(b * k);
        return tokens.reshape(b * n, d).get(rows).reshape(b, k, d);
    }

    /**
     * As {@link #infer(VisionTransformer, ParameterStore, NDArray, KeepPolicy)}; when {@code keptIndices} is not null,
     * the kept patch indices of each stage (relative to the tokens entering that stage) are appended to it as
     * {@code long[batch][k]} (nothing for a merging policy, which drops no token). A merging policy runs
     * {@link TokenMerging#infer} at its {@link MergeSchedule}.
     */
    public static NDArray infer(VisionTransformer net, ParameterStore ps, NDArray pixels, KeepPolicy policy,
            List<long[][]> keptIndices) {
        if (policy.merges()) {
            MergeSchedule schedule = MergeSchedule.forPolicy(net.config(), stagesFor(net, policy).stages(), policy);
            return TokenMerging.infer(net, ps, pixels, schedule, null);
        }
        NDArray x = net.embed(ps, pixels, false);
        SparsifierConfig sparsifier = policy.isDense() ? null : stagesFor(net, policy);
        List<Integer> stages = sparsifier == null ? List.of() : sparsifier.stages();
        boolean learned = policy.method() == KeepPolicy.Method.LEARNED;
        long batch = x.getShape().get(0);
        NDArray clsAttention = null;
        NDArray pkg = null; // (B, D) package token
        NDArray pkgMass = null; // (B, 1) total weight fused into it
        int s = 0;
        int patches = net.config().numPatches();
        List<TransformerBlock> blocks = net.blocks();
        for (int i = 0; i < blocks.size(); i++) {
            if (s < stages.size() && stages.get(s) == i) {
                int k = keepCount(patches, policy.keepRatio());
                if (k < patches) {
                    NDArray candidates = x.get(":, 1:" + (1 + patches) + ", :");
                    NDArray rank; // (B, n) importance, larger = keep
                    NDArray weights = null; // (B, n) non-negative importance, where a package token uses it
                    if (learned) {
                        rank = net.predictors().get(s).keepScores(ps, candidates);
                        if (policy.packageToken()) {
                            // The predictor's keep probability: the logistic of its score plus the ratio's prior.
                            weights = Activation.sigmoid(rank.add(TokenPredictor.priorLogOdds(policy.keepRatio())));
                        }
                    } else {
                        rank = clsAttention.get(":, 1:" + (1 + patches));
                        weights = rank;
                    }
                    NDArray index = topKIndices(rank, k); // (B, k), original order
                    if (keptIndices != null) {
                        long[] flat = index.toLongArray();
                        long[][] rows = new long[(int) batch][k];
                        for (int b = 0; b < batch; b++) {
                            System.arraycopy(flat, b * k, rows[b], 0, k);
                        }
                        keptIndices.add(rows);
                    }
                    // CLS (token 0) and the kept patches (token 1 + index) in one gather.
                    NDArray withCls = NDArrays.concat(new NDList(index.get(":, :1").zerosLike(), index.add(1)), 1);
                    NDArray kept = gatherTokens(x, withCls); // (B, 1 + k, D)
                    if (policy.packageToken()) {
                        NDArray keptWeights = weights.gather(index, 1);
                        NDArray fused = candidates.mul(weights.expandDims(2)).sum(new int[] {1})
                                .sub(kept.get(":, 1:, :").mul(keptWeights.expandDims(2)).sum(new int[] {1})); // (B, D)
                        NDArray mass = weights.sum(new int[] {1}, true).sub(keptWeights.sum(new int[] {1}, true));
                        if (pkg != null) {
                            fused = fused.add(pkg.mul(pkgMass));
                            mass = mass.add(pkgMass);
                        }
                        pkgMass = mass.add(1e-9f);
                        pkg = fused.div(pkgMass);
                        x = NDArrays.concat(new NDList(kept, pkg.expandDims(1)), 1);
                    } else {
                        x = kept;
                    }
                    patches = k;
                }
                s++;
            }
            // The baseline ranks by the CLS attention of the block before a stage; nothing else needs it.
            boolean wantCls = !learned && s < stages.size() && stages.get(s) == i + 1;
            NDList out = blocks.get(i).forward(ps, new NDList(x), false,
                    wantCls ? Attention.WITH_CLS_ATTENTION : null);
            x = out.get(0);
            clsAttention = wantCls ? out.get(1) : null;
        }
        if (batch != x.getShape().get(0)) {
            throw new IllegalStateException("batch size changed during the forward pass");
        }
        return net.classify(ps, x, false);
    }

    /** Outputs of the training forward pass. */
    public record TrainOutput(NDArray logits, NDArray tokens, List<NDArray> stagePolicies) {
        /** Keep policy (B, N) after the last stage (ones if the model has no stages). */
        public NDArray finalPolicy() {
            return stagePolicies.isEmpty() ? tokens.get(":, 1:, 0").onesLike() : stagePolicies.get(stagePolicies.size() - 1);
        }
    }

    /**
     * Training forward pass (shapes fixed, attention masking), or, with {@code fixedPolicies}, the same masked pass
     * with given 0/1 policies instead of sampled ones (tests use this).
     *
     * @param keepRatio the ratio the predictors are asked for (their conditioning input)
     * @param fixedPolicies per stage (B, N) keep masks, or null to sample Gumbel-softmax decisions
     */
    public static TrainOutput train(VisionTransformer net, ParameterStore ps, NDArray pixels, double keepRatio,
            boolean training, List<NDArray> fixedPolicies) {
        SparsifierConfig sparsifier = net.sparsifier();
        if (sparsifier == null || !sparsifier.hasPredictors()) {
            throw new IllegalArgumentException("training token sparsification needs a model with token predictors");
        }
        NDArray x = net.embed(ps, pixels, training);
        List<Integer> stages = sparsifier.stages();
        List<NDArray> policies = new ArrayList<>();
        NDArray policy = null; // (B, N) over patch tokens
        NDArray fullPolicy = null; // (B, 1 + N): CLS always kept
        int s = 0;
        List<TransformerBlock> blocks = net.blocks();
        for (int i = 0; i < blocks.size(); i++) {
            if (s < stages.size() && stages.get(s) == i) {
                NDArray patchTokens = x.get(":, 1:, :");
                NDArray current = policy != null ? policy : patchTokens.get(":, :, 0").onesLike();
                NDArray decision;
                if (fixedPolicies != null) {
                    decision = fixedPolicies.get(s);
                } else {
                    NDArray ratio = patchTokens.get(":, :1, 0").onesLike().mul((float) keepRatio);
                    NDArray logp = net.predictors().get(s)
                            .forward(ps, new NDList(patchTokens, current, ratio), training).singletonOrThrow();
                    decision = gumbelKeep(logp);
                }
                policy = decision.mul(current);
                policies.add(policy);
                fullPolicy = NDArrays.concat(new NDList(x.get(":, :1, 0").onesLike(), policy), 1);
                s++;
            }
            NDList in = fullPolicy == null ? new NDList(x) : new NDList(x, fullPolicy);
            x = blocks.get(i).forward(ps, in, training).get(0);
        }
        return new TrainOutput(net.classify(ps, x, training), x, policies);
    }

    /** Hard keep decisions (B, N) from log-probabilities (B, N, 2) with straight-through Gumbel-softmax gradients. */
    static NDArray gumbelKeep(NDArray logp) {
        NDArray u = logp.getManager().randomUniform(1e-6f, 1f - 1e-6f, logp.getShape(), DataType.FLOAT32);
        NDArray y = logp.add(u.log().neg().log().neg());
        NDArray soft = y.softmax(2).get(":, :, 0");
        NDArray hard = y.get(":, :, 0").gt(y.get(":, :, 1")).toType(DataType.FLOAT32, false);
        return hard.sub(soft.stopGradient()).add(soft);
    }
}
