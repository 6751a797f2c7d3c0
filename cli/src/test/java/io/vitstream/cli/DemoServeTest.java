package io.vitstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.kafka.Topics;
import io.vitstream.testing.TestData;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** `demo --serve --duration N`: serves an outside client's records while it runs, then exits 0 by itself. */
@Tag("integration")
class DemoServeTest {
    @Test
    void theDemoServesAPlainProducersRecordsForItsDurationAndExitsZero() throws Exception {
        PipedInputStream pipe = new PipedInputStream(1 << 16);
        PrintWriter out = new PrintWriter(new PipedOutputStream(pipe), true, StandardCharsets.UTF_8);
        StringWriter err = new StringWriter();
        CompletableFuture<Integer> demo = CompletableFuture.supplyAsync(() -> {
            try {
                return Main.run(out, new PrintWriter(err, true), "demo", "--serve", "--duration", "20",
                        "--model", TestData.repoRoot().resolve("models/base").toString());
            } finally {
                out.close();
            }
        });
        StringBuilder transcript = new StringBuilder();
        String bootstrap = null;
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(pipe, StandardCharsets.UTF_8))) {
            for (String line; (line = lines.readLine()) != null; ) {
                transcript.append(line).append('\n');
                if (bootstrap == null && line.startsWith("broker up at ")) {
                    bootstrap = line.substring("broker up at ".length()).split(" ")[0];
                }
                if (line.startsWith("serving for 20 s")) {
                    produce(bootstrap, 30); // what kcat or a Python producer would send
                }
            }
        }
        assertThat(demo.get(120, TimeUnit.SECONDS)).as(err.toString()).isZero();
        assertThat(bootstrap).isNotNull();
        assertThat(transcript.toString()).contains("images/s (").contains("| model base-v1 |")
                .contains("stopping after").contains("30 predictions served, 0 dead letters");
    }

    private static void produce(String bootstrap, int n) {
        Map<String, Object> p = new HashMap<>();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        var data = io.vitstream.data.FashionMnist.load(TestData.fashionMnist(), io.vitstream.data.FashionMnist.Split.TEST);
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(),
                new ByteArraySerializer())) {
            for (int i = 0; i < n; i++) {
                var record = new ProducerRecord<String, byte[]>(Topics.IMAGES, "outside-" + i, data.png(i));
                record.headers().add(Topics.HEADER_LABEL, String.valueOf(data.labels()[i])
                        .getBytes(StandardCharsets.US_ASCII));
                producer.send(record);
            }
            producer.flush();
        }
    }
}
