package io.vitstream.controller;

import com.fasterxml.jackson.databind.JsonNode;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vitstream.controller.admin.AdminOps;
import io.vitstream.controller.admin.Views;
import io.vitstream.controller.http.AdminServer;
import io.vitstream.controller.job.JobManager;
import io.vitstream.controller.job.JobStatus;
import io.vitstream.controller.job.PruneRunner;
import io.vitstream.controller.policy.Decision;
import io.vitstream.controller.policy.DecisionLog;
import io.vitstream.controller.policy.Policy;
import io.vitstream.controller.policy.PolicySettings;
import io.vitstream.controller.policy.PolicyState;
import io.vitstream.controller.rollout.Rollout;
import io.vitstream.controller.rollout.RolloutPhase;
import io.vitstream.controller.rollout.RolloutState;
import io.vitstream.controller.state.ClusterFollower;
import io.vitstream.controller.state.ControllerTopics;
import io.vitstream.controller.state.KafkaControlPlane;
import io.vitstream.controller.state.KafkaModelRepository;
import io.vitstream.controller.state.StateStore;
import io.vitstream.controller.stream.MetricsRunner;
import io.vitstream.controller.stream.MetricsRuntime;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.Replication;
import io.vitstream.kafka.Topics;
import io.vitstream.signing.ModelSigning;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.function.Consumer;
import java.util.function.Function;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.streams.StreamsConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The controller's composition root and lifecycle: creates the topics, follows the cluster, re-plans from what the
 * previous run stored, wires the parts and serves the admin API; {@link #close} stops them in reverse.
 *
 * <p>The parts: {@link ControlLoop} (the slow loop: rollout steps, one policy evaluation per window, gauges),
 * {@link PolicyActuator} (carries out decisions, brings vit.control in line with the policy), {@link
 * RepruneOrchestrator} (prune jobs to published canaries), {@link Rollout} (rule 5), {@link AdminService} (what the
 * admin API asks), {@link KafkaControlPlane} (vit.control through one transactional producer), {@link PolicyStore} and
 * {@link VersionNotes} (what only the controller knows, durable). Every change of state happens on one
 * {@link LoopThread}, so the rules, the rollout and the operator never race. vit.control stays the source of truth
 * for what is served; a restarted controller re-plans from its own topics.
 */
public final class Controller implements AdminOps, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Controller.class);
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration WRITE_VISIBLE = Duration.ofSeconds(30);

    /**
     * The production metrics: the Kafka Streams topology ({@link MetricsRunner}) with the config's windows. Its
     * internal topics (changelogs, repartition) are replicated like the controller's own ({@code topics.replication},
     * {@code topics.min.insync.replicas}; {@code kafka.*} settings still win): they hold the metrics' state, and a
     * changelog on one replica would stop the app when its broker goes.
     */
    public static MetricsRuntime streams(ControllerConfig config) {
        return MetricsRunner.start(config.bootstrapServers(), config.applicationId(), config.streamsStateDir(),
                config.metrics(), streamsSettings(config));
    }

    /** The Streams settings {@link #streams} adds: replication of the internal topics, then {@code kafka.*}. */
    static Map<String, Object> streamsSettings(ControllerConfig config) {
        Map<String, Object> extra = new LinkedHashMap<>();
        Replication r = config.topicReplication();
        extra.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, (int) r.factor()); // -1: the brokers' default, as Streams'
        r.topicConfigs().forEach((k, v) -> extra.put(StreamsConfig.topicPrefix(k), v));
        extra.putAll(config.kafka());
        return extra;
    }

    private final ControllerConfig config;
    private final Clock clock;
    private final List<AutoCloseable> resources = new ArrayList<>();
    private ClusterFollower follower;
    private DecisionLog decisions;
    private JobManager jobs;
    private Rollout rollout;
    private PolicyStore policy;
    private ControlLoop controlLoop;
    private AdminService admin;
    private LoopThread loop;
    private AdminServer http;

    private Controller(ControllerConfig config, Clock clock) {
        this.config = config;
        this.clock = clock;
    }

    /**
     * Starts everything and returns once the admin API serves.
     *
     * @param metricsFactory starts the metrics topology (the controller closes it)
     * @param runner runs prune jobs ({@link PruneRunner#DEFAULT} in production)
     */
    public static Controller start(ControllerConfig config, Function<ControllerConfig, MetricsRuntime> metricsFactory,
            PruneRunner runner, PrometheusMeterRegistry registry, Clock clock) throws InterruptedException {
        Controller c = new Controller(config, clock);
        try {
            c.startAll(metricsFactory, runner, registry);
            return c;
        } catch (RuntimeException | InterruptedException e) {
            c.close();
            throw e;
        }
    }

    private void startAll(Function<ControllerConfig, MetricsRuntime> metricsFactory, PruneRunner runner,
            PrometheusMeterRegistry registry) throws InterruptedException {
        Map<String, Object> client = config.clientSettings();
        PrivateKey signingKey = config.signingKey() == null ? null : ModelSigning.readPrivateKey(config.signingKey());
        PublicKey publicKey = config.publicKey() == null ? null : ModelSigning.readPublicKey(config.publicKey());
        try (Admin a = Admin.create(client)) {
            Topics.createAll(a, config.topicPartitions(), config.topicReplication());
            ControllerTopics.createAll(a, config.topicReplication());
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot create the topics on " + config.bootstrapServers() + ": "
                    + e.getCause().getMessage(), e);
        }
        follower = new ClusterFollower(client);
        resources.add(follower);
        follower.start();
        follower.awaitCaughtUp(Duration.ofSeconds(60));
        StateStore store = new StateStore(client);
        resources.add(store);

        // Re-plan from what is stored: policy, cool-downs, version notes, decisions, the rollout.
        Map<String, byte[]> stored = follower.state();
        policy = PolicyStore.restore(stored, config, store);
        VersionNotes notes = new VersionNotes(store, clock);
        notes.restore(stored);

        JvmGcMetrics gc = new JvmGcMetrics();
        gc.bindTo(registry);
        resources.add(gc);
        new JvmMemoryMetrics().bindTo(registry);
        decisions = new DecisionLog(config.history(), registry);
        decisions.restore(store.lastDecisions(config.history()));
        decisions.addListener(store::append);

        KafkaControlPlane plane = KafkaControlPlane.open(client, config.applicationId(), follower, WRITE_VISIBLE,
                config.workerTimeoutMs(), clock);
        resources.add(plane);
        MetricsRuntime metricsRuntime = metricsFactory.apply(config);
        resources.add(metricsRuntime);
        MetricsReader metrics = new MetricsReader(metricsRuntime, clock);
        jobs = new JobManager(runner, clock);
        resources.add(jobs);
        rollout = new Rollout(plane, metrics.view(), decisions, policy::settings, clock, s -> {
            store.put(ControllerTopics.KEY_ROLLOUT, s);
            notes.rollout(s);
        });
        rollout.resume(StateStore.parse(stored.get(ControllerTopics.KEY_ROLLOUT), RolloutState.class,
                ControllerTopics.KEY_ROLLOUT));

        loop = new LoopThread("controller-loop", CALL_TIMEOUT);
        ControllerMetrics meters = new ControllerMetrics(meterSource());
        RepruneOrchestrator reprune = new RepruneOrchestrator(jobs, new KafkaModelRepository(client, signingKey,
                publicKey, follower, WRITE_VISIBLE), follower, rollout, decisions, notes, policy::settings, config,
                loop, meters::jobFinished, clock);
        PolicyActuator actuator = new PolicyActuator(plane, reprune::start, decisions, notes, clock);
        controlLoop = new ControlLoop(follower, plane, metrics, policy, actuator, rollout, jobs::running, meters,
                clock);
        admin = new AdminService(loop, follower, plane, policy, controlLoop, actuator, rollout, reprune::start,
                jobs::current, notes, decisions, metrics, config.workerTimeoutMs(), clock);
        meters.bindTo(registry);

        loop.call(() -> {
            actuator.alignAtStart(policy.previous(), policy.settings());
            return null;
        });
        loop.every(config.tickMs(), controlLoop::tick);

        http = AdminServer.start(admin, registry, config.insecure() ? null : config.adminToken(), admin::health,
                config.adminHost(), config.adminPort());
        ControlMessage c = follower.control();
        PolicySettings s = policy.settings();
        log.info("controller up: admin API on port {}, active version {}, {}, keep mode {}, policy {}", adminPort(),
                c == null ? "(none yet)" : c.activeVersion(), c == null ? "-" : Policy.describe(c), s.keepMode().id(), s.enabled() ? "enabled" : "paused");
    }

    private ControllerMetrics.Source meterSource() {
        return new ControllerMetrics.Source() {
            @Override
            public ControlMessage control() {
                return follower.control();
            }

            @Override
            public double sloSeconds() {
                return policy.settings().sloMs() / 1000;
            }

            @Override
            public PolicyState policyState() {
                return controlLoop == null ? PolicyState.NO_DATA : controlLoop.state();
            }

            @Override
            public JobStatus job() {
                return jobs.current();
            }

            @Override
            public RolloutPhase rolloutPhase() {
                return rollout.state().phase();
            }
        };
    }

    /** The port the admin API listens on. */
    public int adminPort() {
        return http.port();
    }

    /** Hears every decision and audited action as it is recorded (the demo prints them). */
    public void addDecisionListener(Consumer<Decision> listener) {
        decisions.addListener(listener);
    }

    public JobStatus job() {
        return jobs.current();
    }

    public RolloutState rolloutState() {
        return rollout.state();
    }

    public ControlMessage control() {
        return follower.control();
    }

    // ---- admin operations: the admin service's ----

    @Override
    public Views.Status status() {
        return admin.status();
    }

    @Override
    public List<Views.Version> versions() {
        return admin.versions();
    }

    @Override
    public List<Decision> decisions() {
        return admin.decisions();
    }

    @Override
    public PolicySettings policy() {
        return admin.policy();
    }

    @Override
    public PolicySettings setPolicy(JsonNode patch, String actor) {
        return admin.setPolicy(patch, actor);
    }

    @Override
    public JobStatus prune(double flopsRatio, String actor) {
        return admin.prune(flopsRatio, actor);
    }

    @Override
    public Views.Control activate(String version, String actor) {
        return admin.activate(version, actor);
    }

    @Override
    public Views.Control rollback(String actor) {
        return admin.rollback(actor);
    }

    @Override
    public Views.Control setKeepRatio(double keepRatio, String actor) {
        return admin.setKeepRatio(keepRatio, actor);
    }

    @Override
    public Views.Control setKeepBounds(Double keepFloor, Double keepCeiling, String actor) {
        return admin.setKeepBounds(keepFloor, keepCeiling, actor);
    }

    // ---- lifecycle ----

    @Override
    public void close() {
        if (http != null) {
            http.close();
        }
        if (loop != null) {
            loop.close();
        }
        for (int i = resources.size() - 1; i >= 0; i--) {
            try {
                resources.get(i).close();
            } catch (Exception e) {
                log.warn("closing {}: {}", resources.get(i).getClass().getSimpleName(), e.toString());
            }
        }
    }
}
