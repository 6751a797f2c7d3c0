package io.vitstream.kafka;

import io.vitstream.util.FileTrees;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Uuid;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real single-node KRaft Apache Kafka broker (combined broker + controller) in a child JVM, for tests and the demo.
 *
 * <p>The child runs Kafka's own public entry points, {@code kafka.tools.StorageTool format} then {@code kafka.Kafka
 * server.properties}, from the {@code kafka_2.13} jars on this JVM's class path. A child process keeps the broker's
 * heap and CPU out of the worker's JVM (it matters for benchmarks), stops cleanly on SIGTERM, and needs no internal
 * Kafka API. Because nothing here compiles against the broker, this class lives in {@code common} with only
 * kafka-clients; a module that starts a broker puts {@code kafka_2.13}, {@code kafka-metadata} and
 * {@code kafka-server-common} on its own classpath (test scope in the services, runtime scope in the CLI).
 *
 * <p>Ports are picked free on 127.0.0.1 before start (the controller quorum needs a known port), the log directory
 * is fresh per start and deleted on {@link #close()}, and the contract's topics ({@link Topics}) are created.
 */
public final class KafkaBroker implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(KafkaBroker.class);
    private static final long START_TIMEOUT_MS = 90_000;

    private final Path dir;
    private final Process process;
    private final String bootstrap;
    private final Thread reaper;

    private KafkaBroker(Path dir, Process process, String bootstrap) {
        this.dir = dir;
        this.process = process;
        this.bootstrap = bootstrap;
        // The broker must not outlive its parent (Ctrl-C on the demo, a test JVM killed by its runner).
        this.reaper = new Thread(process::destroy, "kafka-broker-reaper");
        Runtime.getRuntime().addShutdownHook(reaper);
    }

    /** Starts a broker with {@code partitions} partitions on each data topic and waits until it serves. */
    public static KafkaBroker start(int partitions) {
        if (KafkaBroker.class.getClassLoader().getResource("kafka/Kafka.class") == null) {
            throw new IllegalStateException("the Kafka broker jars (org.apache.kafka:kafka_2.13) are not on the class"
                    + " path; add them (test or runtime scope) to the module that starts an embedded broker");
        }
        Path dir;
        try {
            dir = Files.createTempDirectory("vitstream-kafka-");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temporary directory for the broker", e);
        }
        Process process = null;
        try {
            int port = freePort();
            int controllerPort = freePort();
            String bootstrap = "127.0.0.1:" + port;
            Path props = dir.resolve("server.properties");
            Files.writeString(props, serverProperties(dir.resolve("logs"), port, controllerPort));
            Path out = dir.resolve("broker.log");
            runToEnd(List.of("kafka.tools.StorageTool", "format", "-t", Uuid.randomUuid().toString(), "-c",
                    props.toString()), dir.resolve("format.log"));
            process = java(List.of("kafka.Kafka", props.toString()), out).start();
            KafkaBroker broker = new KafkaBroker(dir, process, bootstrap);
            try {
                broker.awaitReadyAndCreateTopics(partitions, out);
            } catch (RuntimeException | InterruptedException e) {
                broker.close();
                throw e;
            }
            log.info("Kafka broker ready at {} (logs in {})", bootstrap, dir);
            return broker;
        } catch (IOException e) {
            if (process != null) {
                process.destroyForcibly();
            }
            FileTrees.deleteQuietly(dir);
            throw new UncheckedIOException("cannot start the Kafka broker: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting the Kafka broker", e);
        }
    }

    /** {@code 127.0.0.1:PORT}. */
    public String bootstrapServers() {
        return bootstrap;
    }

    /** Client settings that reach this broker. */
    public Map<String, Object> clientConfig() {
        return Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    }

    private static String serverProperties(Path logs, int port, int controllerPort) {
        return String.join("\n",
                "process.roles=broker,controller",
                "node.id=1",
                "controller.quorum.voters=1@127.0.0.1:" + controllerPort,
                "listeners=PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort,
                "advertised.listeners=PLAINTEXT://127.0.0.1:" + port,
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "log.dirs=" + logs,
                // One node: every internal topic with one replica, or transactions and groups never start.
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "transaction.state.log.num.partitions=4",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                // A dead worker's open transaction is aborted within a second of its timeout, not up to 10 s later
                // (Kafka's default check interval): read_committed readers wait that much less after a crash.
                "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000",
                "auto.create.topics.enable=false",
                "num.partitions=1",
                "") ;
    }

    private void awaitReadyAndCreateTopics(int partitions, Path out) throws InterruptedException {
        long deadline = System.currentTimeMillis() + START_TIMEOUT_MS;
        // Wait for the listener first: an admin client started earlier logs a warning per refused connection.
        int port = Integer.parseInt(bootstrap.substring(bootstrap.lastIndexOf(':') + 1));
        while (!accepts(port)) {
            if (!process.isAlive()) {
                throw new IllegalStateException("the Kafka broker exited with code " + process.exitValue()
                        + " during start; last lines of " + out + ":\n" + tail(out));
            }
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("the Kafka broker did not listen on " + bootstrap + " within "
                        + START_TIMEOUT_MS / 1000 + " s:\n" + tail(out));
            }
            Thread.sleep(100);
        }
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5000,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10000))) {
            while (true) {
                if (!process.isAlive()) {
                    throw new IllegalStateException("the Kafka broker exited with code " + process.exitValue()
                            + " during start; last lines of " + out + ":\n" + tail(out));
                }
                try {
                    admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
                    Topics.createAll(admin, partitions, (short) 1);
                    return;
                } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
                    if (System.currentTimeMillis() > deadline) {
                        throw new IllegalStateException("the Kafka broker did not become ready in "
                                + START_TIMEOUT_MS / 1000 + " s: " + e.getMessage() + "\n" + tail(out), e);
                    }
                    Thread.sleep(200);
                }
            }
        }
    }

    private static ProcessBuilder java(List<String> mainAndArgs, Path output) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx512m");
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.addAll(mainAndArgs);
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(output.toFile());
    }

    private static void runToEnd(List<String> mainAndArgs, Path output) throws IOException, InterruptedException {
        Process p = java(mainAndArgs, output).start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("Kafka's storage format step did not finish in 60 s: " + tail(output));
        }
        if (p.exitValue() != 0) {
            throw new IOException("Kafka's storage format step failed (exit " + p.exitValue() + "): " + tail(output));
        }
    }

    private static boolean accepts(int port) {
        try (java.net.Socket s = new java.net.Socket()) {
            s.connect(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        }
    }

    private static String tail(Path file) {
        try {
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "(no output: " + e.getMessage() + ")";
        }
    }

    /** Process id of the broker's JVM (benchmarks pin it to cores). */
    public long pid() {
        return process.pid();
    }

    /** CPU time the broker process has used so far (zero where the platform does not report it). */
    public java.time.Duration cpuTime() {
        return process.info().totalCpuDuration().orElse(java.time.Duration.ZERO);
    }

    /** Stops the broker (SIGTERM, then a hard kill after 30 s) and deletes its directory. */
    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        try {
            Runtime.getRuntime().removeShutdownHook(reaper);
        } catch (IllegalStateException ignored) {
            // Already shutting down: the hook runs anyway.
        }
        FileTrees.deleteQuietly(dir);
    }
}
