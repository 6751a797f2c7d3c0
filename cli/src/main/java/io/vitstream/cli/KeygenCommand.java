package io.vitstream.cli;

import io.vitstream.signing.ModelSigning;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code vitstream keygen}: an Ed25519 key pair for signing published models. */
@Command(name = "keygen", mixinStandardHelpOptions = true,
        description = "Make an Ed25519 key pair (PEM) for signing models: the private key signs (publish-model), "
                + "the public key is given to every worker.")
final class KeygenCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--out", required = true, description = "Directory for " + ModelSigning.PRIVATE_KEY_FILE
            + " (owner-only) and " + ModelSigning.PUBLIC_KEY_FILE + ".")
    Path out;

    @Override
    public Integer call() throws Exception {
        ModelSigning.writeKeyPair(ModelSigning.generate(), out);
        spec.commandLine().getOut().printf("private key: %s%npublic key:  %s%n",
                out.resolve(ModelSigning.PRIVATE_KEY_FILE), out.resolve(ModelSigning.PUBLIC_KEY_FILE));
        spec.commandLine().getOut().flush();
        return 0;
    }
}
