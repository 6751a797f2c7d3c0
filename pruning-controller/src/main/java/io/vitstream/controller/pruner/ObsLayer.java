package io.vitstream.controller.pruner;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The OBS step on one linear layer's input columns, in groups (a neuron: one column of fc2; a head: its head_dim
 * columns of the projection), with the layer-wise loss {@code 1/2 * sum over output rows of d^T H d} for a weight
 * change d and the layer-input Hessian H (see {@link LayerInputHessians}), damped.
 *
 * <p>Removing group G costs {@code 1/2 * sum over rows of w_G^T ([H^-1]_GG)^-1 w_G}; the optimal change of the other
 * columns is {@code d = -W_G ([H^-1]_GG)^-1 H^-1[G, :]} (which also zeroes W_G), and the inverse Hessian of the
 * remaining columns is {@code H^-1 - H^-1[:, G] ([H^-1]_GG)^-1 H^-1[G, :]}. Removing units one at a time with these
 * updates accounts for their correlations (OBD ignores them); for a quadratic loss it ends at the joint optimum of
 * the removed set, whatever the order. The last column is the bias (a constant input): never removed, always updated.
 * Plain double arrays: the layers are at most a few hundred columns wide.
 */
final class ObsLayer {
    private final double[][] w;
    private final double[][] hInv;
    private final int[][] groups;
    private final boolean[] removed;
    private final double lambda;

    /**
     * @param weight (out, in) of the layer, copied
     * @param bias (out), copied
     * @param hessian (in + 1) x (in + 1) undamped layer-input Hessian, bias last
     * @param groups column indices of each prunable group (disjoint, all below {@code in})
     * @param damping lambda as a share of the mean diagonal of H over the input columns (not the bias)
     */
    ObsLayer(float[] weight, float[] bias, double[][] hessian, int[][] groups, double damping) {
        int in = hessian.length - 1;
        int out = bias.length;
        if (weight.length != out * in) {
            throw new IllegalArgumentException("weight has " + weight.length + " entries, expected " + out + " x " + in);
        }
        this.w = new double[out][in + 1];
        for (int r = 0; r < out; r++) {
            for (int c = 0; c < in; c++) {
                w[r][c] = weight[r * in + c];
            }
            w[r][in] = bias[r];
        }
        double meanDiagonal = 0;
        for (int c = 0; c < in; c++) {
            meanDiagonal += hessian[c][c] / in;
        }
        // Dead inputs (all zero) would leave H singular with any relative damping of zero: keep a floor.
        this.lambda = damping * (meanDiagonal > 0 ? meanDiagonal : 1.0);
        double[][] damped = new double[in + 1][];
        for (int i = 0; i <= in; i++) {
            damped[i] = hessian[i].clone();
            damped[i][i] += lambda;
        }
        this.hInv = Linalg.inverseSpd(damped);
        this.groups = groups;
        this.removed = new boolean[groups.length];
    }

    /** The input columns of group g. */
    int[] columns(int g) {
        return groups[g].clone();
    }

    /** The damping lambda added to H's diagonal. */
    double lambda() {
        return lambda;
    }

    /** The layer-wise loss of removing group g now, with the other remaining columns corrected. */
    double cost(int g) {
        int[] cols = groups[g];
        double[][] m = Linalg.inverseSpd(block(cols));
        double s = 0;
        for (double[] row : w) {
            for (int a = 0; a < cols.length; a++) {
                double t = 0;
                for (int b = 0; b < cols.length; b++) {
                    t += m[a][b] * row[cols[b]];
                }
                s += row[cols[a]] * t;
            }
        }
        return 0.5 * s;
    }

    /** Removes group g: corrects the remaining columns (bias included), zeroes g's, downdates the inverse Hessian. */
    void remove(int g) {
        if (removed[g]) {
            throw new IllegalStateException("group " + g + " is already removed");
        }
        int[] cols = groups[g];
        int width = hInv.length;
        double[][] m = Linalg.inverseSpd(block(cols));
        // rowsG = ([H^-1]_GG)^-1 H^-1[G, :], |G| x width
        double[][] rowsG = new double[cols.length][width];
        for (int a = 0; a < cols.length; a++) {
            for (int b = 0; b < cols.length; b++) {
                double mab = m[a][b];
                double[] src = hInv[cols[b]];
                for (int j = 0; j < width; j++) {
                    rowsG[a][j] += mab * src[j];
                }
            }
        }
        for (double[] row : w) {
            for (int a = 0; a < cols.length; a++) {
                double wa = row[cols[a]];
                for (int j = 0; j < width; j++) {
                    row[j] -= wa * rowsG[a][j];
                }
            }
            for (int c : cols) {
                row[c] = 0; // exactly: it is 0 up to rounding
            }
        }
        // H^-1 -= H^-1[:, G] rowsG (symmetric: H^-1[:, G] is H^-1[G, :] transposed)
        double[][] colsG = new double[width][cols.length];
        for (int i = 0; i < width; i++) {
            for (int a = 0; a < cols.length; a++) {
                colsG[i][a] = hInv[i][cols[a]];
            }
        }
        for (int i = 0; i < width; i++) {
            for (int a = 0; a < cols.length; a++) {
                double f = colsG[i][a];
                if (f != 0) {
                    double[] r = rowsG[a];
                    double[] dst = hInv[i];
                    for (int j = 0; j < width; j++) {
                        dst[j] -= f * r[j];
                    }
                }
            }
        }
        for (int c : cols) {
            Arrays.fill(hInv[c], 0);
            for (double[] row : hInv) {
                row[c] = 0;
            }
        }
        removed[g] = true;
    }

    /**
     * Removes, one at a time, the cheapest of {@code candidates} still present, until {@code count} are gone.
     *
     * @return the removed groups in order, and the cost of each when it went
     */
    Trace greedy(List<Integer> candidates, int count) {
        List<Integer> order = new ArrayList<>();
        List<Double> costs = new ArrayList<>();
        List<Integer> left = new ArrayList<>(candidates);
        for (int step = 0; step < count && !left.isEmpty(); step++) {
            int best = -1;
            double bestCost = Double.POSITIVE_INFINITY;
            for (int g : left) {
                double c = cost(g);
                if (c < bestCost || best < 0) {
                    best = g;
                    bestCost = c;
                }
            }
            remove(best);
            left.remove(Integer.valueOf(best));
            order.add(best);
            costs.add(bestCost);
        }
        return new Trace(order, costs.stream().mapToDouble(Double::doubleValue).toArray());
    }

    /** Groups in the order removed and the layer-wise loss each cost at its step. */
    record Trace(List<Integer> order, double[] costs) {}

    /** The weight (out, in), row-major, as it is now. */
    float[] weight() {
        int in = hInv.length - 1;
        float[] out = new float[w.length * in];
        for (int r = 0; r < w.length; r++) {
            for (int c = 0; c < in; c++) {
                out[r * in + c] = (float) w[r][c];
            }
        }
        return out;
    }

    /** The bias (out) as it is now. */
    float[] bias() {
        int in = hInv.length - 1;
        float[] out = new float[w.length];
        for (int r = 0; r < w.length; r++) {
            out[r] = (float) w[r][in];
        }
        return out;
    }

    private double[][] block(int[] cols) {
        double[][] b = new double[cols.length][cols.length];
        for (int a = 0; a < cols.length; a++) {
            for (int c = 0; c < cols.length; c++) {
                b[a][c] = hInv[cols[a]][cols[c]];
            }
        }
        return b;
    }
}
