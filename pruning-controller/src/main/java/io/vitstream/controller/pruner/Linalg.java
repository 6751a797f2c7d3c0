package io.vitstream.controller.pruner;

/** The little dense linear algebra the OBS step needs, on small double matrices. */
final class Linalg {
    private Linalg() {}

    /** The inverse of a symmetric positive definite matrix, by Cholesky ({@code A = L L^T}). */
    static double[][] inverseSpd(double[][] a) {
        int n = a.length;
        double[][] l = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double s = a[i][j];
                for (int k = 0; k < j; k++) {
                    s -= l[i][k] * l[j][k];
                }
                if (i == j) {
                    if (!(s > 0)) {
                        throw new IllegalStateException("matrix is not positive definite (pivot " + s + " at " + i
                                + "): raise the damping");
                    }
                    l[i][i] = Math.sqrt(s);
                } else {
                    l[i][j] = s / l[j][j];
                }
            }
        }
        // L^-1, lower triangular, by forward substitution
        double[][] li = new double[n][n];
        for (int c = 0; c < n; c++) {
            li[c][c] = 1 / l[c][c];
            for (int i = c + 1; i < n; i++) {
                double s = 0;
                for (int k = c; k < i; k++) {
                    s -= l[i][k] * li[k][c];
                }
                li[i][c] = s / l[i][i];
            }
        }
        // A^-1 = L^-T L^-1
        double[][] inv = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double s = 0;
                for (int k = i; k < n; k++) {
                    s += li[k][i] * li[k][j];
                }
                inv[i][j] = s;
                inv[j][i] = s;
            }
        }
        return inv;
    }

    /**
     * {@code 1/2 * sum over rows r of d_r^T H d_r} for the rows of {@code d} (out x width, row-major) and H (width x
     * width): the layer-wise loss of a weight change, {@code (1/n) ||d X||^2} when {@code H = (2/n) X X^T}.
     */
    static double halfQuadratic(double[] d, int width, double[][] h) {
        int rows = d.length / width;
        double s = 0;
        for (int r = 0; r < rows; r++) {
            int o = r * width;
            for (int i = 0; i < width; i++) {
                double di = d[o + i];
                if (di == 0) {
                    continue;
                }
                double t = 0;
                for (int j = 0; j < width; j++) {
                    t += h[i][j] * d[o + j];
                }
                s += di * t;
            }
        }
        return 0.5 * s;
    }
}
