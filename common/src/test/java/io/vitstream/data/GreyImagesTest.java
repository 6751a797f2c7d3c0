package io.vitstream.data;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.testing.TestData;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

class GreyImagesTest {
    /** The general path: a bilinear drawImage onto a grey image of the model's size. */
    private static byte[] drawn(BufferedImage img, int size) {
        BufferedImage grey = new BufferedImage(size, size, BufferedImage.TYPE_BYTE_GRAY);
        Graphics2D g = grey.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
        g.drawImage(img, 0, 0, size, size, null);
        g.dispose();
        byte[] out = new byte[size * size];
        grey.getRaster().getDataElements(0, 0, size, size, out);
        return out;
    }

    @Test
    void greyImagesOfTheModelSizeGiveWhatDrawingThemGives() throws Exception {
        LabeledImages test = FashionMnist.load(TestData.fashionMnist(), FashionMnist.Split.TEST).limit(50);
        for (int i = 0; i < test.count(); i++) {
            BufferedImage img = ImageIO.read(new ByteArrayInputStream(test.png(i)));
            assertThat(img.getType()).isEqualTo(BufferedImage.TYPE_BYTE_GRAY);
            byte[] fast = GreyImages.toGrey(img, 28);
            assertThat(fast).as("image %d", i).containsExactly(drawn(img, 28));
            assertThat(fast).as("image %d: the data set's own pixels", i).containsExactly(
                    java.util.Arrays.copyOfRange(test.pixels(), i * 784, (i + 1) * 784));
        }
    }

    @Test
    void otherSizesAndColourStillGoThroughTheResize() {
        BufferedImage colour = new BufferedImage(56, 40, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 40; y++) {
            for (int x = 0; x < 56; x++) {
                colour.setRGB(x, y, (x * 4) << 16 | (y * 6) << 8 | ((x + y) * 2));
            }
        }
        assertThat(GreyImages.toGrey(colour, 28)).containsExactly(drawn(colour, 28));
        BufferedImage grey = new BufferedImage(30, 30, BufferedImage.TYPE_BYTE_GRAY);
        grey.getRaster().setSample(3, 4, 0, 200);
        assertThat(GreyImages.toGrey(grey, 28)).containsExactly(drawn(grey, 28));
    }
}
