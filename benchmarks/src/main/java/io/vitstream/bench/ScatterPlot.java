package io.vitstream.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/** A small line/scatter plot rendered with Java2D to PNG, so benchmarks need no plotting dependency. */
final class ScatterPlot {
    record Point(double x, double y, String label) {}

    record Series(String name, Color color, boolean connect, List<Point> points) {}

    private final String title;
    private final String xLabel;
    private final String yLabel;
    private final List<Series> series = new ArrayList<>();

    ScatterPlot(String title, String xLabel, String yLabel) {
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
    }

    ScatterPlot add(Series s) {
        series.add(s);
        return this;
    }

    void write(Path file) throws IOException {
        int w = 900;
        int h = 600;
        int left = 90;
        int right = 30;
        int top = 50;
        int bottom = 70;
        double minX = Double.MAX_VALUE;
        double maxX = -Double.MAX_VALUE;
        double minY = Double.MAX_VALUE;
        double maxY = -Double.MAX_VALUE;
        for (Series s : series) {
            for (Point p : s.points()) {
                minX = Math.min(minX, p.x());
                maxX = Math.max(maxX, p.x());
                minY = Math.min(minY, p.y());
                maxY = Math.max(maxY, p.y());
            }
        }
        double padX = Math.max(1e-9, (maxX - minX) * 0.08);
        double padY = Math.max(1e-9, (maxY - minY) * 0.12);
        minX -= padX;
        maxX += padX;
        minY -= padY;
        maxY += padY;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
        g.drawString(title, left, 30);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        int pw = w - left - right;
        int ph = h - top - bottom;
        g.drawRect(left, top, pw, ph);
        for (int i = 0; i <= 5; i++) {
            double vx = minX + (maxX - minX) * i / 5;
            int px = left + pw * i / 5;
            g.setColor(new Color(230, 230, 230));
            g.drawLine(px, top + 1, px, top + ph - 1);
            g.setColor(Color.BLACK);
            g.drawString(String.format(Locale.ROOT, "%.0f", vx), px - 15, top + ph + 18);
            double vy = minY + (maxY - minY) * i / 5;
            int py = top + ph - ph * i / 5;
            g.setColor(new Color(230, 230, 230));
            g.drawLine(left + 1, py, left + pw - 1, py);
            g.setColor(Color.BLACK);
            g.drawString(String.format(Locale.ROOT, "%.3f", vy), left - 55, py + 4);
        }
        g.drawString(xLabel, left + pw / 2 - 40, h - 25);
        g.rotate(-Math.PI / 2);
        g.drawString(yLabel, -(top + ph / 2 + 40), 25);
        g.rotate(Math.PI / 2);
        int legendY = top + 20;
        for (Series s : series) {
            g.setColor(s.color());
            g.setStroke(new BasicStroke(2f));
            int[] xs = new int[s.points().size()];
            int[] ys = new int[s.points().size()];
            for (int i = 0; i < xs.length; i++) {
                Point p = s.points().get(i);
                xs[i] = left + (int) Math.round(pw * (p.x() - minX) / (maxX - minX));
                ys[i] = top + ph - (int) Math.round(ph * (p.y() - minY) / (maxY - minY));
                g.fillOval(xs[i] - 5, ys[i] - 5, 10, 10);
                if (p.label() != null) {
                    g.drawString(p.label(), xs[i] + 7, ys[i] - 7);
                }
            }
            if (s.connect()) {
                g.drawPolyline(xs, ys, xs.length);
            }
            g.fillOval(left + pw - 220, legendY - 9, 10, 10);
            g.setColor(Color.BLACK);
            g.drawString(s.name(), left + pw - 204, legendY);
            legendY += 18;
        }
        g.dispose();
        Files.createDirectories(file.toAbsolutePath().getParent());
        ImageIO.write(img, "png", file.toFile());
    }
}
