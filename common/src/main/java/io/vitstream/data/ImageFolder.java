package io.vitstream.data;

import io.vitstream.util.UserError;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Reads a labelled image folder {@code root/<class>/*.png|jpg|jpeg|bmp|gif}: classes are the sub-directories in name
 * order; every image is converted to grey and resized to {@code size x size}.
 */
public final class ImageFolder {
    private ImageFolder() {}

    public static LabeledImages load(Path root, int size) {
        if (!Files.isDirectory(root)) {
            throw new UserError("image folder not found: " + root);
        }
        List<Path> classDirs;
        try (Stream<Path> s = Files.list(root)) {
            classDirs = s.filter(Files::isDirectory).sorted().toList();
        } catch (IOException e) {
            throw new UserError("cannot list " + root + ": " + e.getMessage(), e);
        }
        if (classDirs.isEmpty()) {
            throw new UserError(root + " has no class sub-directories (expected root/<class>/<image>)");
        }
        List<String> names = new ArrayList<>();
        List<byte[]> images = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        for (int c = 0; c < classDirs.size(); c++) {
            Path dir = classDirs.get(c);
            names.add(dir.getFileName().toString());
            List<Path> files;
            try (Stream<Path> s = Files.list(dir)) {
                files = s.filter(ImageFolder::isImageFile).sorted().toList();
            } catch (IOException e) {
                throw new UserError("cannot list " + dir + ": " + e.getMessage(), e);
            }
            for (Path f : files) {
                BufferedImage img;
                try {
                    img = javax.imageio.ImageIO.read(f.toFile());
                } catch (IOException e) {
                    throw new UserError(f + ": cannot decode image: " + e.getMessage(), e);
                }
                if (img == null) {
                    throw new UserError(f + ": not a readable image");
                }
                images.add(GreyImages.toGrey(img, size));
                labels.add(c);
            }
        }
        byte[] pixels = new byte[images.size() * size * size];
        for (int i = 0; i < images.size(); i++) {
            System.arraycopy(images.get(i), 0, pixels, i * size * size, size * size);
        }
        return new LabeledImages(pixels, labels.stream().mapToInt(Integer::intValue).toArray(), size, size, names);
    }

    private static boolean isImageFile(Path p) {
        String n = p.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        return Files.isRegularFile(p)
                && (n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg") || n.endsWith(".bmp")
                        || n.endsWith(".gif"));
    }
}
