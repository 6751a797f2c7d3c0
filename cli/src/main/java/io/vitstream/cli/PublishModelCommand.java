package io.vitstream.cli;

import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.ModelRecords;
import io.vitstream.kafka.Publisher;
import io.vitstream.signing.ModelSigning;
import io.vitstream.util.UserError;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code vitstream publish-model}: sign an artifact and publish it to vit.models (optionally activating it). */
@Command(name = "publish-model", mixinStandardHelpOptions = true,
        description = {"Sign a model artifact (writes DIR/manifest.sig) and publish it, chunked, to the compacted",
            "model topic in one transaction. With --activate, also make it the active version on the control topic."})
final class PublishModelCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, description = "Model directory (manifest.json + weights).")
    Path model;

    @Option(names = "--private-key", required = true, description = "Ed25519 private key (PEM) from `vitstream keygen`.")
    Path privateKey;

    @Option(names = {"--bootstrap-servers", "--bootstrap"}, defaultValue = "${env:KAFKA_BOOTSTRAP_SERVERS}",
            description = "Kafka bootstrap servers (env KAFKA_BOOTSTRAP_SERVERS).")
    String bootstrap;

    @Option(names = "--activate", description = "Also set this version active on the control topic.")
    boolean activate;

    @Option(names = "--keep-ratio", defaultValue = "1.0", description = "Keep ratio to set with --activate (default: ${DEFAULT-VALUE}).")
    double keepRatio;

    @Option(names = "--chunk-bytes", defaultValue = "" + ModelRecords.DEFAULT_CHUNK_BYTES, description = "Weight chunk size (default: ${DEFAULT-VALUE}).")
    int chunkBytes;

    @Override
    public Integer call() {
        if (bootstrap == null || bootstrap.isBlank()) {
            throw new UserError("--bootstrap-servers is required (or set KAFKA_BOOTSTRAP_SERVERS)");
        }
        if (chunkBytes < 1024 || chunkBytes > 1024 * 1024) {
            throw new UserError("--chunk-bytes must be between 1024 and 1048576, got " + chunkBytes);
        }
        ModelRecords.Publication pub = ModelRecords.fromArtifact(model, ModelSigning.readPrivateKey(privateKey), chunkBytes);
        Map<String, Object> client = Map.of("bootstrap.servers", bootstrap);
        Publisher.publishModel(client, pub);
        var out = spec.commandLine().getOut();
        out.printf("published %s (%d records, signed) to %s%n", pub.version(), pub.records().size(), bootstrap);
        if (activate) {
            Publisher.setControl(client, ControlMessage.active(pub.version(), keepRatio));
            out.printf("activated %s at keep ratio %s%n", pub.version(), keepRatio);
        }
        out.flush();
        return 0;
    }
}
