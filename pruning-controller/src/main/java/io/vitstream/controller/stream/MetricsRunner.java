package io.vitstream.controller.stream;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the {@link MetricsTopology} as a Kafka Streams app and hands out its {@link MetricsView}. The controller owns
 * one and closes it on shutdown.
 *
 * <p>Exactly-once (v2): the app reads committed predictions only (read_committed) and its stores, changelogs and
 * offsets move together, so a restart neither loses nor double-counts. A record that cannot be deserialised (not a
 * prediction, a label that is not an integer) is logged and skipped; any other processing error stops the app
 * ({@link #state()} becomes ERROR) rather than leave figures silently wrong.
 */
public final class MetricsRunner implements MetricsRuntime {
    private static final Logger log = LoggerFactory.getLogger(MetricsRunner.class);

    private final KafkaStreams streams;
    private final StoreMetricsView view;

    private MetricsRunner(KafkaStreams streams, StoreMetricsView view) {
        this.streams = streams;
        this.view = view;
    }

    /**
     * Builds and starts the app (returns at once; see {@link #awaitRunning(Duration)}).
     *
     * @param stateDir local state (RocksDB); restored from the changelogs when empty
     * @param extra further Streams, consumer or producer settings (security, tuning); they win over the above
     */
    public static MetricsRunner start(String bootstrapServers, String applicationId, Path stateDir,
            MetricsSettings settings, Map<String, ?> extra) {
        KafkaStreams streams = new KafkaStreams(MetricsTopology.build(settings),
                streamsConfig(bootstrapServers, applicationId, stateDir, extra));
        streams.setUncaughtExceptionHandler(e -> {
            log.error("metrics streams stopped by an unexpected error", e);
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.start();
        log.info("metrics streams {} started against {}", applicationId, bootstrapServers);
        return new MetricsRunner(streams, StoreMetricsView.over(streams, settings));
    }

    /** The app's settings: also what tests give a TopologyTestDriver. */
    public static Properties streamsConfig(String bootstrapServers, String applicationId, Path stateDir,
            Map<String, ?> extra) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, LogAndContinueExceptionHandler.class);
        p.putAll(extra);
        return p;
    }

    @Override
    public StoreMetricsView view() {
        return view;
    }

    public KafkaStreams.State state() {
        return streams.state();
    }

    @Override
    public String problem() {
        KafkaStreams.State s = streams.state();
        return s == KafkaStreams.State.RUNNING ? null : "metrics streams " + s;
    }

    @Override
    public boolean failed() {
        KafkaStreams.State s = streams.state();
        return s == KafkaStreams.State.ERROR || s == KafkaStreams.State.PENDING_ERROR
                || s == KafkaStreams.State.NOT_RUNNING;
    }

    @Override
    public Instant latest() {
        return view.latest();
    }

    /** Waits until the app is RUNNING (stores queryable); false on timeout or if it failed. */
    public boolean awaitRunning(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            KafkaStreams.State s = streams.state();
            if (s == KafkaStreams.State.RUNNING) {
                return true;
            }
            if (s == KafkaStreams.State.ERROR || s == KafkaStreams.State.NOT_RUNNING
                    || s == KafkaStreams.State.PENDING_SHUTDOWN || s == KafkaStreams.State.PENDING_ERROR) {
                return false;
            }
            Thread.sleep(50);
        }
        return false;
    }

    @Override
    public void close() {
        if (!streams.close(Duration.ofSeconds(30))) {
            log.warn("metrics streams did not stop within 30 s");
        }
    }
}
