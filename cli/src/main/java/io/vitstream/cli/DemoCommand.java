package io.vitstream.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code vitstream demo}: the main job on one machine. Today it evaluates the committed base model on the full
 * Fashion-MNIST test set; the streaming demo (embedded broker, worker, controller) replaces it as those land.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {
            "Run the main job on this machine with nothing else installed.",
            "Current scope: evaluate the committed dense base model (models/base) on the 10,000 Fashion-MNIST test images",
            "and benchmark its throughput. The Kafka streaming demo replaces this as the worker and controller land."
        })
final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", defaultValue = "${sys:vitstream.home:-.}/models/base", description = "Model directory (default: ${DEFAULT-VALUE}).")
    String model;

    @Override
    public Integer call() {
        CommandLine root = spec.root().commandLine();
        int code = root.execute("evaluate", "--model", model);
        if (code != 0) {
            return code;
        }
        return root.execute("bench", "model", "--model", model, "--seconds", "2");
    }
}
