package io.vitstream.testkit;

import io.vitstream.kafka.Replication;
import io.vitstream.kafka.Topics;
import io.vitstream.util.FileTrees;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real KRaft Apache Kafka cluster on this machine: {@code n} nodes, each a combined broker + controller in a child
 * JVM of its own, the controller quorum made of all of them. One node is the single-node broker of the demo and the
 * tests ({@link KafkaBroker}); three are a cluster that survives the loss of one (replication 3, min ISR 2).
 *
 * <p>Each child runs Kafka's own public entry points, {@code kafka.tools.StorageTool format} (every node with the same
 * cluster id) then {@code kafka.Kafka server.properties}, from the {@code kafka_2.13} jars on this JVM's class path.
 * A child process keeps the brokers' heap and CPU out of the worker's JVM (it matters for benchmarks), stops cleanly on
 * SIGTERM, can be killed alone with SIGKILL ({@link Node#kill()}: what a fail-over test needs), and needs no
 * internal Kafka API. Because nothing here compiles against the broker, this class lives in {@code common} with only
 * kafka-clients; a module that starts a cluster puts {@code kafka_2.13}, {@code kafka-metadata} and
 * {@code kafka-server-common} on its own class path (test scope in the services, runtime scope in the CLI).
 *
 * <p>The quorum is static ({@code controller.quorum.voters}, which Kafka 4.x still supports for combined nodes and
 * needs no {@code --initial-controllers} at format time). Ports are picked free on 127.0.0.1 before start (the quorum
 * needs known ports), the log directories are fresh per start and deleted on {@link #close()}, and the contract's
 * topics ({@link Topics}) and the internal ones (consumer offsets, transaction state) are replicated as
 * {@link Replication} says. Every node dies with this JVM (a shutdown hook), also when it ends without
 * {@link #close()}.
 */
public final class KafkaCluster implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(KafkaCluster.class);
    /** Generous: three JVMs starting at once on two busy cores have taken over two minutes. */
    private static final long START_TIMEOUT_MS = 180_000;
    /** A node that does not stop on SIGTERM within this long is killed (close waits this long for all at once). */
    private static final Duration STOP_GRACE = Duration.ofSeconds(30);
    /** The JVM is exiting: less patience, but no node may outlive it. */
    private static final Duration REAPER_GRACE = Duration.ofSeconds(5);

    private final Path dir;
    private final List<Node> nodes;
    private final Replication replication;
    private final Thread reaper;

    private KafkaCluster(Path dir, List<Node> nodes, Replication replication) {
        this.dir = dir;
        this.nodes = List.copyOf(nodes);
        this.replication = replication;
        // No node may outlive its parent (Ctrl-C on the demo, a test JVM ended by its runner).
        this.reaper = new Thread(() -> stopAll(REAPER_GRACE), "kafka-cluster-reaper");
        Runtime.getRuntime().addShutdownHook(reaper);
    }

    /** {@code nodes} nodes with {@link Replication#defaultFor(int)}. */
    public static KafkaCluster start(int nodes, int partitions) {
        return start(nodes, partitions, Replication.defaultFor(nodes));
    }

    /**
     * Starts {@code nodes} nodes, waits until every one serves, and creates the contract's topics with
     * {@code partitions} partitions on each data topic, replicated as {@code replication} says (also the brokers'
     * defaults, so that topics made later, Kafka Streams' internal ones among them, are replicated alike).
     */
    public static KafkaCluster start(int nodes, int partitions, Replication replication) {
        if (nodes < 1 || nodes > 9) {
            throw new IllegalArgumentException("a local cluster has 1 to 9 nodes, got " + nodes);
        }
        if (replication.factor() == Replication.BROKER_DEFAULT
                || replication.minInsyncReplicas() == Replication.BROKER_DEFAULT) {
            throw new IllegalArgumentException("a local cluster needs an explicit replication, got " + replication);
        }
        if (replication.factor() > nodes) {
            throw new IllegalArgumentException("replication factor " + replication.factor() + " needs at least as"
                    + " many nodes, got " + nodes);
        }
        if (KafkaCluster.class.getClassLoader().getResource("kafka/Kafka.class") == null) {
            throw new IllegalStateException("the Kafka broker jars (org.apache.kafka:kafka_2.13) are not on the class"
                    + " path; add them (test or runtime scope) to the module that starts an embedded broker");
        }
        Path dir;
        try {
            dir = Files.createTempDirectory("vitstream-kafka-");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temporary directory for the Kafka nodes", e);
        }
        List<Node> started = new ArrayList<>();
        List<Process> formats = new ArrayList<>();
        try {
            int[] ports = new int[nodes];
            int[] controllerPorts = new int[nodes];
            try (PortReservations reserved = new PortReservations()) {
                for (int i = 0; i < nodes; i++) {
                    ports[i] = reserved.next();
                    controllerPorts[i] = reserved.next();
                }
            }
            StringBuilder voters = new StringBuilder();
            for (int i = 0; i < nodes; i++) {
                voters.append(i == 0 ? "" : ",").append(i + 1).append("@127.0.0.1:").append(controllerPorts[i]);
            }
            String clusterId = Uuid.randomUuid().toString();
            for (int i = 0; i < nodes; i++) {
                Path nodeDir = Files.createDirectories(dir.resolve("node-" + (i + 1)));
                Path props = nodeDir.resolve("server.properties");
                Files.writeString(props, serverProperties(i + 1, nodes, voters.toString(), nodeDir.resolve("logs"),
                        ports[i], controllerPorts[i], replication));
                started.add(new Node(i + 1, "127.0.0.1:" + ports[i], ports[i], props, nodeDir.resolve("broker.log")));
                // Every node formatted with the same cluster id: the quorum refuses a stranger.
                // A run-once tool: C1 only, which spares the CPU of JIT-compiling what runs once.
                formats.add(java(List.of("-XX:TieredStopAtLevel=1", "kafka.tools.StorageTool", "format", "-t",
                        clusterId, "-c", props.toString()), nodeDir.resolve("format.log")).start());
            }
            for (int i = 0; i < nodes; i++) {
                awaitFormatted(formats.get(i), dir.resolve("node-" + (i + 1)).resolve("format.log"));
            }
            for (Node m : started) {
                m.launch();
            }
        } catch (IOException e) {
            formats.forEach(Process::destroyForcibly);
            started.forEach(Node::destroyNow);
            FileTrees.deleteQuietly(dir);
            throw new UncheckedIOException("cannot start the Kafka nodes: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            formats.forEach(Process::destroyForcibly);
            started.forEach(Node::destroyNow);
            FileTrees.deleteQuietly(dir);
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting the Kafka nodes", e);
        }
        KafkaCluster cluster = new KafkaCluster(dir, started, replication);
        try {
            cluster.awaitReadyAndCreateTopics(partitions);
        } catch (RuntimeException e) {
            cluster.close();
            throw e;
        } catch (InterruptedException e) {
            cluster.close();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting the Kafka nodes", e);
        }
        log.info("Kafka {} ready at {} ({}; logs in {})", nodes == 1 ? "broker" : nodes + "-node cluster",
                cluster.bootstrapServers(), replication, dir);
        return cluster;
    }

    /** Every node's {@code 127.0.0.1:PORT}, comma-separated: all a client needs. */
    public String bootstrapServers() {
        return nodes.stream().map(Node::address).collect(Collectors.joining(","));
    }

    /** Client settings that reach this cluster. */
    public Map<String, Object> clientConfig() {
        return Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
    }

    /** How the contract's and the internal topics are replicated. */
    public Replication replication() {
        return replication;
    }

    /** The nodes, by id (1 ... n). */
    public List<Node> nodes() {
        return nodes;
    }

    /** Node {@code id} (1 ... n). */
    public Node node(int id) {
        if (id < 1 || id > nodes.size()) {
            throw new IllegalArgumentException("no node " + id + " in a cluster of " + nodes.size());
        }
        return nodes.get(id - 1);
    }

    /** The node that leads {@code topic}'s {@code partition} now (asked of the cluster). */
    public Node leaderOf(String topic, int partition) {
        return node(ask(a -> {
            TopicPartitionInfo p = a.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions()
                    .get(partition);
            org.apache.kafka.common.Node leader = p.leader();
            if (leader == null || leader.isEmpty()) {
                throw new IllegalStateException(topic + "-" + partition + " has no leader now");
            }
            return leader.id();
        }));
    }

    /**
     * The node that coordinates the transactions of {@code transactionalId} now: the leader of its partition of
     * {@code __transaction_state}. The id must have been used ({@code initTransactions}).
     */
    public Node transactionCoordinator(String transactionalId) {
        return node(ask(a -> a.describeTransactions(List.of(transactionalId)).description(transactionalId).get()
                .coordinatorId()));
    }

    private interface AdminCall<T> {
        T call(Admin admin) throws ExecutionException, InterruptedException;
    }

    private <T> T ask(AdminCall<T> call) {
        try (Admin a = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers(),
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000))) {
            return call.call(a);
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot ask the cluster at " + bootstrapServers() + ": "
                    + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted asking the cluster", e);
        }
    }

    /**
     * One node's settings. A single node is exactly the broker the demo and the tests have always used: every
     * replication setting 1.
     */
    private static String serverProperties(int id, int nodes, String voters, Path logs, int port, int controllerPort,
            Replication r) {
        List<String> lines = new ArrayList<>(List.of(
                "process.roles=broker,controller",
                "node.id=" + id,
                "controller.quorum.voters=" + voters,
                "listeners=PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort,
                "advertised.listeners=PLAINTEXT://127.0.0.1:" + port,
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "log.dirs=" + logs,
                // The internal topics replicated like the contract's, or transactions and groups would not survive
                // the loss of the one broker that holds them (and on one node, with more than one replica, never
                // start).
                "offsets.topic.replication.factor=" + r.factor(),
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=" + r.factor(),
                "transaction.state.log.min.isr=" + r.minInsyncReplicas(),
                "transaction.state.log.num.partitions=4",
                "share.coordinator.state.topic.replication.factor=" + r.factor(),
                "share.coordinator.state.topic.min.isr=" + r.minInsyncReplicas(),
                // Topics someone else creates (Kafka Streams' changelogs, a controller left at the brokers' default)
                // are replicated alike.
                "default.replication.factor=" + r.factor(),
                "min.insync.replicas=" + r.minInsyncReplicas(),
                "group.initial.rebalance.delay.ms=0",
                // A dead worker's open transaction is aborted within a second of its timeout, not up to 10 s later
                // (Kafka's default check interval): read_committed readers wait that much less after a crash.
                "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000",
                "auto.create.topics.enable=false",
                "num.partitions=1"));
        if (nodes > 1) {
            // Fence a killed node and move its leaderships once 6 s pass without its heartbeat rather than Kafka's
            // 9: the local cluster exists to watch a fail-over, and a worker's open transaction (10 s timeout)
            // should outlive it.
            lines.add("broker.session.timeout.ms=6000");
            lines.add("broker.heartbeat.interval.ms=1500");
        }
        return String.join("\n", lines) + "\n";
    }

    private void awaitReadyAndCreateTopics(int partitions) throws InterruptedException {
        long deadline = System.currentTimeMillis() + START_TIMEOUT_MS;
        // Wait for the listeners first: an admin client started earlier logs a warning per refused connection.
        for (Node m : nodes) {
            while (!accepts(m.port)) {
                m.checkAlive("during start");
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("Kafka node " + m.id + " did not listen on " + m.address
                            + " within " + START_TIMEOUT_MS / 1000 + " s:\n" + tail(m.log, 30));
                }
                Thread.sleep(100);
            }
        }
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers(),
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5000,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10000))) {
            while (true) {
                for (Node m : nodes) {
                    m.checkAlive("during start");
                }
                try {
                    // Every broker registered and unfenced before topics that need all their replicas are made.
                    int live = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).size();
                    if (live == nodes.size()) {
                        Topics.createAll(admin, partitions, replication);
                        return;
                    }
                } catch (ExecutionException | TimeoutException e) {
                    if (System.currentTimeMillis() > deadline) {
                        throw new IllegalStateException("the Kafka nodes did not become ready in "
                                + START_TIMEOUT_MS / 1000 + " s: " + e.getMessage() + "\n" + tail(nodes.get(0).log,
                                30), e);
                    }
                }
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("not every Kafka node joined the cluster within "
                            + START_TIMEOUT_MS / 1000 + " s:\n" + tail(nodes.get(0).log, 30));
                }
                Thread.sleep(200);
            }
        }
    }

    /** A child JVM on this class path; {@code optionsMainAndArgs}: JVM options first (those starting with "-"). */
    private static ProcessBuilder java(List<String> optionsMainAndArgs, Path output) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx512m");
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
        int main = 0;
        while (optionsMainAndArgs.get(main).startsWith("-")) {
            cmd.add(optionsMainAndArgs.get(main++));
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.addAll(optionsMainAndArgs.subList(main, optionsMainAndArgs.size()));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(output.toFile());
    }

    private static void awaitFormatted(Process p, Path output) throws IOException, InterruptedException {
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("Kafka's storage format step did not finish in 60 s: " + tail(output, 30));
        }
        if (p.exitValue() != 0) {
            throw new IOException("Kafka's storage format step failed (exit " + p.exitValue() + "): "
                    + tail(output, 30));
        }
    }

    private static boolean accepts(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Free ports, each held open until all are picked so that no two of them are the same. */
    private static final class PortReservations implements AutoCloseable {
        private final List<ServerSocket> held = new ArrayList<>();

        int next() throws IOException {
            ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
            s.setReuseAddress(true);
            held.add(s);
            return s.getLocalPort();
        }

        @Override
        public void close() throws IOException {
            for (ServerSocket s : held) {
                s.close();
            }
        }
    }

    static String tail(Path file, int lines) {
        try {
            List<String> all = Files.readAllLines(file, StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(no output: " + e.getMessage() + ")";
        }
    }

    /** SIGTERM to every live node at once, SIGKILL to those still running after {@code grace}. */
    private void stopAll(Duration grace) {
        for (Node m : nodes) {
            m.signalStop();
        }
        long deadline = System.nanoTime() + grace.toNanos();
        for (Node m : nodes) {
            m.awaitExit(deadline);
        }
    }

    /** Stops every node (SIGTERM, then SIGKILL after 30 s) and deletes their directories. */
    @Override
    public void close() {
        stopAll(STOP_GRACE);
        try {
            Runtime.getRuntime().removeShutdownHook(reaper);
        } catch (IllegalStateException ignored) {
            // Already shutting down: the hook runs anyway.
        }
        FileTrees.deleteQuietly(dir);
    }

    /** One node of the cluster: a combined broker + controller in its own JVM. */
    public static final class Node {
        private final int id;
        private final String address;
        private final int port;
        private final Path properties;
        private final Path log;
        private volatile Process process;

        private Node(int id, String address, int port, Path properties, Path log) {
            this.id = id;
            this.address = address;
            this.port = port;
            this.properties = properties;
            this.log = log;
        }

        private void launch() throws IOException {
            process = java(List.of("kafka.Kafka", properties.toString()), log).start();
        }

        /** Its node id (also its place in the quorum). */
        public int id() {
            return id;
        }

        /** {@code 127.0.0.1:PORT} of its client listener. */
        public String address() {
            return address;
        }

        /** The node's output (its log at WARN and above, anything it prints), for reading after the fact. */
        public Path log() {
            return log;
        }

        /** The last {@code lines} lines of {@link #log()}. */
        public String logTail(int lines) {
            return tail(log, lines);
        }

        public boolean alive() {
            return process.isAlive();
        }

        /** Process id of the node's JVM (benchmarks pin it to cores). */
        public long pid() {
            return process.pid();
        }

        /** CPU time the node's process has used so far (zero where the platform does not report it). */
        public Duration cpuTime() {
            return process.info().totalCpuDuration().orElse(Duration.ZERO);
        }

        /**
         * SIGKILL ({@link Process#destroyForcibly()} on Linux): the node dies at once, with no controlled shutdown,
         * its leaderships still its own until the quorum fences it. Returns when the process is gone.
         */
        public void kill() throws InterruptedException {
            process.destroyForcibly();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("Kafka node " + id + " (pid " + process.pid() + ") still runs 30 s"
                        + " after SIGKILL");
            }
        }

        private void checkAlive(String when) {
            if (!process.isAlive()) {
                throw new IllegalStateException("Kafka node " + id + " exited with code " + process.exitValue() + " "
                        + when + "; last lines of " + log + ":\n" + tail(log, 30));
            }
        }

        private void signalStop() {
            Process p = process;
            if (p != null && p.isAlive()) {
                p.destroy();
            }
        }

        private void awaitExit(long deadlineNanos) {
            Process p = process;
            if (p == null) {
                return;
            }
            try {
                long left = deadlineNanos - System.nanoTime();
                if (!p.waitFor(Math.max(0, left), TimeUnit.NANOSECONDS)) {
                    p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }

        private void destroyNow() {
            Process p = process;
            if (p != null) {
                p.destroyForcibly();
            }
        }

        @Override
        public String toString() {
            return "node " + id + " (" + address + ")";
        }
    }
}
