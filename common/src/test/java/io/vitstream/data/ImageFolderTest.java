package io.vitstream.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.util.UserError;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageFolderTest {
    @TempDir
    Path root;

    @Test
    void readsColourPngAndJpegIntoGreyOfTheModelSize() throws Exception {
        Files.createDirectories(root.resolve("bright"));
        Files.createDirectories(root.resolve("dark"));
        ImageIO.write(solid(64, 40, Color.WHITE), "png", root.resolve("bright/a.png").toFile());
        ImageIO.write(solid(20, 30, new Color(200, 200, 200)), "jpg", root.resolve("bright/b.jpg").toFile());
        ImageIO.write(solid(28, 28, Color.BLACK), "png", root.resolve("dark/c.png").toFile());
        Files.writeString(root.resolve("dark/readme.txt"), "not an image, ignored");

        LabeledImages images = ImageFolder.load(root, 28);

        assertThat(images.classNames()).containsExactly("bright", "dark");
        assertThat(images.labels()).containsExactly(0, 0, 1);
        assertThat(images.height()).isEqualTo(28);
        assertThat(images.pixels()[0] & 0xff).isEqualTo(255);
        assertThat(images.pixels()[28 * 28 + 100] & 0xff).isBetween(190, 210);
        assertThat(images.pixels()[2 * 28 * 28 + 5] & 0xff).isZero();
    }

    @Test
    void aBrokenImageIsNamed() throws Exception {
        Files.createDirectories(root.resolve("x"));
        Files.write(root.resolve("x/broken.png"), new byte[] {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3});
        assertThatThrownBy(() -> ImageFolder.load(root, 28))
                .isInstanceOf(UserError.class)
                .hasMessageContaining("broken.png");
    }

    @Test
    void missingFashionMnistDirectorySaysHowToInstallIt() {
        assertThatThrownBy(() -> FashionMnist.load(root.resolve("absent"), FashionMnist.Split.TEST))
                .isInstanceOf(UserError.class)
                .hasMessageContaining("apt-get install dataset-fashion-mnist");
    }

    private static BufferedImage solid(int w, int h, Color c) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(c);
        g.fillRect(0, 0, w, h);
        g.dispose();
        return img;
    }
}
