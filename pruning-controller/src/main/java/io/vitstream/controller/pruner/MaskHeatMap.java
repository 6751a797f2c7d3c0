package io.vitstream.controller.pruner;

import io.vitstream.model.BlockConfig;
import io.vitstream.model.VitConfig;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * X-Pruner's per-class masks as a heat map, unit x class: one row per class, one column per unit, heads (wide
 * columns, block by block) in the top panel, MLP neurons (one pixel each, block by block) below; colour from dark
 * (the smallest mask value) to yellow (the largest), one scale for both panels. Written next to the pruned model.
 */
public final class MaskHeatMap {
    public static final String FILE = "x-pruner-masks.png";
    private static final int ROW = 18;
    private static final int LEFT = 90;
    private static final int HEAD_WIDTH = 40;

    private MaskHeatMap() {}

    public static void write(Path png, MaskSearch.Result masks, VitConfig c, List<String> classNames) {
        int classes = c.numClasses();
        int heads = c.blocks().stream().mapToInt(BlockConfig::heads).sum();
        int neurons = c.blocks().stream().mapToInt(BlockConfig::mlpDim).sum();
        int width = LEFT + Math.max(heads * HEAD_WIDTH, neurons) + 20;
        int panel = classes * ROW;
        int height = 30 + panel + 40 + panel + 30;
        float min = Float.MAX_VALUE;
        float max = -Float.MAX_VALUE;
        for (float[][] part : new float[][][] {masks.attention(), masks.mlp()}) {
            for (float[] row : part) {
                for (float v : row) {
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                }
            }
        }
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        g.setColor(Color.BLACK);
        g.drawString(String.format(Locale.ROOT, "X-Pruner per-class masks: heads (top, block by block), MLP neurons "
                + "(bottom); dark %.3f .. yellow %.3f", min, max), LEFT, 18);
        int top = 30;
        int bottom = 30 + panel + 40;
        for (int k = 0; k < classes; k++) {
            g.setColor(Color.BLACK);
            String name = k < classNames.size() ? classNames.get(k) : "class " + k;
            g.drawString(name, 4, top + k * ROW + 13);
            g.drawString(name, 4, bottom + k * ROW + 13);
        }
        int x = LEFT;
        int xn = LEFT;
        for (int b = 0; b < c.depth(); b++) {
            BlockConfig bc = c.blocks().get(b);
            for (int h = 0; h < bc.heads(); h++) {
                for (int k = 0; k < classes; k++) {
                    g.setColor(colour(masks.attention()[b][k * bc.heads() + h], min, max));
                    g.fillRect(x, top + k * ROW, HEAD_WIDTH - 1, ROW - 1);
                }
                x += HEAD_WIDTH;
            }
            for (int j = 0; j < bc.mlpDim(); j++) {
                for (int k = 0; k < classes; k++) {
                    g.setColor(colour(masks.mlp()[b][k * bc.mlpDim() + j], min, max));
                    g.fillRect(xn, bottom + k * ROW, 1, ROW - 1);
                }
                xn++;
            }
            g.setColor(Color.BLACK);
            g.drawString("block " + b, x - bc.heads() * HEAD_WIDTH + 2, top + panel + 14);
            g.drawString("b" + b, xn - bc.mlpDim() + 2, bottom + panel + 14);
        }
        g.dispose();
        try {
            if (png.getParent() != null) {
                Files.createDirectories(png.getParent());
            }
            javax.imageio.ImageIO.write(img, "png", png.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Viridis-like ramp: dark blue, teal, yellow. */
    private static Color colour(float v, float min, float max) {
        float t = max > min ? (v - min) / (max - min) : 1f;
        t = Math.max(0f, Math.min(1f, t));
        float r = t < 0.5f ? 0.27f - 0.2f * t : 0.17f + 1.6f * (t - 0.5f);
        float gr = 0.0f + 0.9f * t;
        float bl = t < 0.5f ? 0.33f + 0.2f * t : 0.43f - 0.8f * (t - 0.5f);
        return new Color(clamp(r), clamp(gr), clamp(bl));
    }

    private static float clamp(float v) {
        return Math.max(0f, Math.min(1f, v));
    }
}
