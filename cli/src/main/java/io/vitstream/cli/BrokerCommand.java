package io.vitstream.cli;

import io.vitstream.kafka.KafkaBroker;
import io.vitstream.util.UserError;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code vitstream broker}: the embedded single-node KRaft broker with the contract's topics, until stopped. */
@Command(name = "broker", mixinStandardHelpOptions = true,
        description = {"Start a real single-node Kafka broker (KRaft, child JVM, temporary log directory) on 127.0.0.1",
            "with the vitstream topics, print its bootstrap address and run until Ctrl-C. For trying the worker by hand;",
            "any Kafka cluster works as well."})
final class BrokerCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--partitions", defaultValue = "4", description = "Partitions of the data topics (default: ${DEFAULT-VALUE}).")
    int partitions;

    @Override
    public Integer call() throws Exception {
        if (partitions < 1 || partitions > 1000) {
            throw new UserError("--partitions must be between 1 and 1000, got " + partitions);
        }
        KafkaBroker broker = KafkaBroker.start(partitions);
        // Ctrl-C: stop the broker cleanly (SIGTERM, wait, delete its directory) before the JVM exits.
        Runtime.getRuntime().addShutdownHook(new Thread(broker::close, "broker-shutdown"));
        spec.commandLine().getOut().println("bootstrap " + broker.bootstrapServers());
        spec.commandLine().getOut().flush();
        new CountDownLatch(1).await();
        return 0;
    }
}
