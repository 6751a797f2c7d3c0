package io.vitstream.cli;

import io.vitstream.kafka.Replication;
import io.vitstream.testkit.KafkaCluster;
import io.vitstream.util.UserError;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code vitstream broker}: the embedded KRaft broker, or with {@code --nodes 3} a three-node cluster (one child JVM per
 * node), with the contract's topics, until stopped.
 */
@Command(name = "broker", mixinStandardHelpOptions = true,
        description = {"Start a real Kafka broker (KRaft, child JVM, temporary log directory) on 127.0.0.1 with the",
            "vitstream topics, print its bootstrap address and run until Ctrl-C. With --nodes 3: a three-node cluster",
            "(each node a broker and a controller in its own JVM; replication 3, min ISR 2) that survives the loss of",
            "one node; kill one by the pid printed to watch a fail-over. Any Kafka cluster works as well."})
final class BrokerCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--partitions", defaultValue = "4", description = "Partitions of the data topics (default: ${DEFAULT-VALUE}).")
    int partitions;

    @Option(names = "--nodes", defaultValue = "1", description = "Kafka nodes, 1 to 9, each a broker and a"
            + " controller in its own JVM (default: ${DEFAULT-VALUE}).")
    int nodes;

    @Option(names = "--replication", description = "Replicas of every topic, the contract's and Kafka's internal ones"
            + " (consumer offsets, transaction state); at most --nodes (default: 3, or --nodes when fewer).")
    Integer replication;

    @Option(names = "--min-insync-replicas", description = "Replicas that must have a write before it is"
            + " acknowledged (min.insync.replicas of the topics, transaction.state.log.min.isr); at most --replication"
            + " (default: 2 from three replicas up, else 1).")
    Integer minInsyncReplicas;

    @Override
    public Integer call() throws Exception {
        Replication r = replication();
        KafkaCluster cluster = KafkaCluster.start(nodes, partitions, r);
        // Ctrl-C: stop the nodes cleanly (SIGTERM, wait, delete their directories) before the JVM exits.
        Runtime.getRuntime().addShutdownHook(new Thread(cluster::close, "broker-shutdown"));
        PrintWriter out = spec.commandLine().getOut();
        out.println("bootstrap " + cluster.bootstrapServers());
        if (nodes > 1) {
            for (KafkaCluster.Node n : cluster.nodes()) {
                out.println("node " + n.id() + " " + n.address() + " pid " + n.pid() + " log " + n.log());
            }
            out.println("topics: " + r + " (the contract's and the internal ones)");
        }
        out.flush();
        new CountDownLatch(1).await();
        return 0;
    }

    /** The options as a {@link Replication}, or one line naming what is wrong. */
    Replication replication() {
        if (partitions < 1 || partitions > 1000) {
            throw new UserError("--partitions must be between 1 and 1000, got " + partitions);
        }
        if (nodes < 1 || nodes > 9) {
            throw new UserError("--nodes must be between 1 and 9, got " + nodes);
        }
        int factor = replication == null ? Replication.defaultFor(nodes).factor() : replication;
        if (factor < 1 || factor > nodes) {
            throw new UserError("--replication must be between 1 and --nodes (" + nodes + "), got " + factor);
        }
        int minIsr = minInsyncReplicas == null ? Replication.defaultMinInsync(factor) : minInsyncReplicas;
        if (minIsr < 1 || minIsr > factor) {
            throw new UserError("--min-insync-replicas must be between 1 and --replication (" + factor + "), got "
                    + minIsr);
        }
        return new Replication((short) factor, minIsr);
    }
}
