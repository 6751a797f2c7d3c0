package io.vitstream.cli;

import io.vitstream.data.FashionMnist;
import io.vitstream.data.LabeledImages;
import io.vitstream.kafka.Topics;
import io.vitstream.training.ProgressBar;
import io.vitstream.util.UserError;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code vitstream produce}: stream real images to vit.images, with labels in headers when known. */
@Command(name = "produce", mixinStandardHelpOptions = true,
        description = {"Stream images to vit.images at a given rate: Fashion-MNIST test images (as PNG, label header)",
            "or the image files of a folder (label = index of the sorted sub-folder, when files are in sub-folders)."})
final class ProduceCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"--bootstrap-servers", "--bootstrap"}, defaultValue = "${env:KAFKA_BOOTSTRAP_SERVERS}",
            description = "Kafka bootstrap servers (env KAFKA_BOOTSTRAP_SERVERS).")
    String bootstrap;

    static final class Source {
        @Option(names = "--fashion-mnist-test", paramLabel = "N", description = "The first N Fashion-MNIST test images.")
        Integer fashionMnist;

        @Option(names = "--images", paramLabel = "DIR", description = "Image files under DIR (png, jpg, bmp, gif).")
        Path images;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Option(names = "--data-dir", defaultValue = "${env:VITSTREAM_DATA_DIR:-/usr/share/datasets/fashion-mnist}",
            description = "Fashion-MNIST directory (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--rate", defaultValue = "0", description = "Images per second (0: as fast as possible).")
    double rate;

    private record Item(String key, byte[] bytes, Integer label) {}

    @Override
    public Integer call() throws Exception {
        if (bootstrap == null || bootstrap.isBlank()) {
            throw new UserError("--bootstrap-servers is required (or set KAFKA_BOOTSTRAP_SERVERS)");
        }
        if (rate < 0) {
            throw new UserError("--rate must be 0 or positive, got " + rate);
        }
        List<Item> items = source.images != null ? folder(source.images) : fashionMnist(source.fashionMnist);
        Map<String, Object> p = new HashMap<>();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Topics.MAX_IMAGE_RECORD_BYTES);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        ProgressBar bar = new ProgressBar(System.err, "produce", items.size(), System.console() != null);
        AtomicLong acked = new AtomicLong();
        AtomicReference<Exception> failure = new AtomicReference<>();
        long start = System.nanoTime();
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(),
                new ByteArraySerializer())) {
            for (int i = 0; i < items.size(); i++) {
                if (rate > 0) {
                    long due = start + (long) (i * 1e9 / rate);
                    long wait = due - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                    }
                }
                Item it = items.get(i);
                RecordHeaders h = new RecordHeaders();
                if (it.label() != null) {
                    h.add(Topics.HEADER_LABEL, it.label().toString().getBytes(StandardCharsets.US_ASCII));
                }
                producer.send(new ProducerRecord<>(Topics.IMAGES, null, it.key(), it.bytes(), h), (md, e) -> {
                    if (e != null) {
                        failure.compareAndSet(null, e);
                    }
                    acked.incrementAndGet();
                });
                bar.update(i + 1, i + 1, "");
                if (failure.get() != null) {
                    break;
                }
            }
            producer.flush();
        }
        if (failure.get() != null) {
            throw new UserError("producing to " + bootstrap + " failed: " + failure.get().getMessage());
        }
        double secs = (System.nanoTime() - start) / 1e9;
        spec.commandLine().getOut().printf(Locale.ROOT, "produced %d images to %s in %.1f s (%.0f images/s)%n",
                acked.get(), Topics.IMAGES, secs, acked.get() / secs);
        spec.commandLine().getOut().flush();
        return 0;
    }

    private List<Item> fashionMnist(int n) throws IOException {
        if (n < 1) {
            throw new UserError("--fashion-mnist-test must be positive, got " + n);
        }
        if (!Files.isDirectory(dataDir)) {
            throw new UserError("Fashion-MNIST directory not found: " + dataDir
                    + " (install it with `apt-get install dataset-fashion-mnist` or pass --data-dir)");
        }
        LabeledImages test = FashionMnist.load(dataDir, FashionMnist.Split.TEST);
        n = Math.min(n, test.count());
        String run = UUID.randomUUID().toString().substring(0, 8);
        List<Item> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(new Item("fmnist-" + run + "-" + i, test.png(i), test.labels()[i]));
        }
        return out;
    }

    private static List<Item> folder(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new UserError("image folder not found: " + dir);
        }
        List<Path> classes;
        try (Stream<Path> s = Files.list(dir)) {
            classes = s.filter(Files::isDirectory).sorted().toList();
        }
        List<Path> files;
        try (Stream<Path> s = Files.walk(dir)) {
            files = s.filter(Files::isRegularFile)
                    .filter(f -> f.getFileName().toString().toLowerCase(Locale.ROOT)
                            .matches(".*\\.(png|jpe?g|bmp|gif)$"))
                    .sorted().toList();
        }
        if (files.isEmpty()) {
            throw new UserError("no .png, .jpg, .bmp or .gif files under " + dir);
        }
        String run = UUID.randomUUID().toString().substring(0, 8);
        List<Item> out = new ArrayList<>();
        for (Path f : files) {
            Path parent = f.getParent();
            int label = classes.indexOf(parent);
            out.add(new Item(run + "-" + dir.relativize(f), Files.readAllBytes(f), label >= 0 ? label : null));
        }
        return out;
    }
}
