package io.vitstream.training;

import java.io.PrintStream;
import java.util.Locale;

/**
 * A one-line progress bar on stderr: bar, step counts, caller-supplied metrics, items/s and ETA. On a terminal it
 * redraws in place at most 4 times a second; otherwise (logs, CI) it prints a full line every 10% so logs stay short.
 */
public final class ProgressBar {
    private final PrintStream out;
    private final String label;
    private final long total;
    private final boolean interactive;
    private final long startNanos = System.nanoTime();
    private long lastDraw;
    private int lastDecile = -1;

    public ProgressBar(String label, long total) {
        this(System.err, label, total, System.console() != null);
    }

    public ProgressBar(PrintStream out, String label, long total, boolean interactive) {
        this.out = out;
        this.label = label;
        this.total = Math.max(1, total);
        this.interactive = interactive;
    }

    /**
     * @param done steps done
     * @param items items processed so far (for the rate)
     * @param metrics already formatted, for example {@code "loss 0.412 acc 0.873"}
     */
    public void update(long done, long items, String metrics) {
        long now = System.nanoTime();
        int decile = (int) (10 * done / total);
        boolean finished = done >= total;
        if (interactive ? (now - lastDraw < 250_000_000L && !finished) : (decile == lastDecile && !finished)) {
            return;
        }
        lastDraw = now;
        lastDecile = decile;
        double secs = (now - startNanos) / 1e9;
        double rate = secs > 0 ? items / secs : 0;
        double eta = done > 0 ? secs * (total - done) / done : 0;
        int width = 24;
        int fill = (int) (width * done / total);
        String bar = "#".repeat(fill) + "-".repeat(width - fill);
        String line = String.format(Locale.ROOT, "%s [%s] %d/%d %s %.0f img/s ETA %s",
                label, bar, done, total, metrics, rate, formatDuration(eta));
        if (interactive) {
            out.print("\r" + line + (finished ? "\n" : ""));
        } else {
            out.println(line);
        }
        out.flush();
    }

    public static String formatDuration(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%dh%02dm", s / 3600, s / 60 % 60)
                : String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    }
}
