package io.vitstream.controller;

import io.vitstream.util.FileTrees;
import com.fasterxml.jackson.databind.JsonNode;
import io.javalin.Javalin;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vitstream.controller.http.AdminApi;
import io.vitstream.controller.job.JobManager;
import io.vitstream.controller.job.JobStatus;
import io.vitstream.controller.job.PruneRunner;
import io.vitstream.controller.policy.Action;
import io.vitstream.controller.policy.Decision;
import io.vitstream.controller.policy.DecisionLog;
import io.vitstream.controller.policy.Observation;
import io.vitstream.controller.policy.Policy;
import io.vitstream.controller.policy.PolicyMemory;
import io.vitstream.controller.policy.PolicySettings;
import io.vitstream.controller.policy.PolicyState;
import io.vitstream.controller.policy.Rule;
import io.vitstream.controller.pruner.PruneRequest;
import io.vitstream.controller.pruner.PruneResult;
import io.vitstream.controller.rollout.ControlPlane;
import io.vitstream.controller.rollout.ModelFetcher;
import io.vitstream.controller.rollout.Rollout;
import io.vitstream.controller.rollout.RolloutPhase;
import io.vitstream.controller.rollout.RolloutState;
import io.vitstream.controller.state.ClusterFollower;
import io.vitstream.controller.state.ControllerTopics;
import io.vitstream.controller.state.StateStore;
import io.vitstream.controller.stream.MetricsRunner;
import io.vitstream.controller.stream.MetricsView;
import io.vitstream.controller.stream.MetricsView.VersionStats;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.ModelRecords;
import io.vitstream.kafka.Publisher;
import io.vitstream.kafka.Topics;
import io.vitstream.kafka.WorkerStatus;
import io.vitstream.signing.ModelSigning;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.Function;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.streams.KafkaStreams;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The controller: follows the cluster's compacted topics, reads the metrics topology, runs the policy once per window
 * and the rollout every tick on one loop thread, runs one prune job at a time on a background thread, and serves the
 * admin API. Every change of state happens on the loop thread (admin mutations are handed to it), so the rules, the
 * rollout and the operator never race. vit.control stays the source of truth for what is served; what only the
 * controller knows (policy, cool-downs, rollout, version history, decisions) is kept in its own topics, so a
 * restarted controller re-plans from there.
 */
public final class Controller implements AdminOps, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Controller.class);
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration WRITE_VISIBLE = Duration.ofSeconds(30);
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss")
            .withZone(ZoneOffset.UTC);

    /** The running metrics topology (Kafka Streams) and its read side. */
    public interface MetricsRuntime extends AutoCloseable {
        MetricsView view();

        /** Null while healthy, else why the figures are missing. */
        default String problem() {
            return null;
        }

        /** True when the metrics will not come back by themselves (the Streams app died), unlike a rebalance. */
        default boolean failed() {
            return false;
        }

        /** Timestamp of the newest prediction counted (the metrics' "now"), or null when unknown. */
        default Instant latest() {
            return null;
        }

        @Override
        default void close() {}
    }

    /** The production metrics: the Kafka Streams topology ({@link MetricsRunner}) with the config's windows. */
    public static MetricsRuntime streams(ControllerConfig config) {
        MetricsRunner runner = MetricsRunner.start(config.bootstrapServers(), config.applicationId(),
                config.streamsStateDir(), config.metrics(), config.kafka());
        return new MetricsRuntime() {
            @Override
            public MetricsView view() {
                return runner.view();
            }

            @Override
            public String problem() {
                KafkaStreams.State s = runner.state();
                return s == KafkaStreams.State.RUNNING ? null : "metrics streams " + s;
            }

            @Override
            public boolean failed() {
                KafkaStreams.State s = runner.state();
                return s == KafkaStreams.State.ERROR || s == KafkaStreams.State.PENDING_ERROR
                        || s == KafkaStreams.State.NOT_RUNNING;
            }

            @Override
            public Instant latest() {
                return runner.view().latest();
            }

            @Override
            public void close() {
                runner.close();
            }
        };
    }

    private final ControllerConfig config;
    private final Clock clock;
    private final Map<String, Object> client;
    private final List<AutoCloseable> resources = new ArrayList<>();
    private final Map<String, Views.VersionNote> notes = new ConcurrentHashMap<>();
    private ClusterFollower follower;
    private StateStore store;
    private MetricsRuntime metricsRuntime;
    private DecisionLog decisions;
    private JobManager jobs;
    private Rollout rollout;
    private ControllerMetrics meters;
    private ScheduledExecutorService loop;
    private Javalin http;
    private PrivateKey signingKey;
    private PublicKey publicKey;
    private volatile PolicySettings settings;
    private volatile PolicyState policyState = PolicyState.NO_DATA;
    private volatile String metricsProblem;
    // Loop thread only.
    private PolicyMemory memory = PolicyMemory.EMPTY;
    private long nextPolicyMs;
    private long nextMetersMs;

    private Controller(ControllerConfig config, Clock clock) {
        this.config = config;
        this.clock = clock;
        this.client = config.clientSettings();
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
        signingKey = config.signingKey() == null ? null : ModelSigning.readPrivateKey(config.signingKey());
        publicKey = config.publicKey() == null ? null : ModelSigning.readPublicKey(config.publicKey());
        try (Admin admin = Admin.create(client)) {
            Topics.createAll(admin, config.topicPartitions(), config.topicReplication());
            ControllerTopics.createAll(admin, config.topicReplication());
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot create the topics on " + config.bootstrapServers() + ": "
                    + e.getCause().getMessage(), e);
        }
        follower = new ClusterFollower(client);
        resources.add(follower);
        follower.start();
        follower.awaitCaughtUp(Duration.ofSeconds(60));
        store = new StateStore(client);
        resources.add(store);

        // Re-plan from what is stored: policy, cool-downs, version notes, decisions, the rollout.
        Map<String, byte[]> stored = follower.state();
        PolicySettings storedPolicy = StateStore.parse(stored.get(ControllerTopics.KEY_POLICY), PolicySettings.class,
                ControllerTopics.KEY_POLICY);
        settings = config.policy(storedPolicy == null ? PolicySettings.defaults() : storedPolicy).validated();
        store.put(ControllerTopics.KEY_POLICY, settings);
        PolicyMemory storedMemory = StateStore.parse(stored.get(ControllerTopics.KEY_MEMORY), PolicyMemory.class,
                ControllerTopics.KEY_MEMORY);
        memory = storedMemory == null ? PolicyMemory.EMPTY : storedMemory.durable();
        stored.forEach((k, v) -> {
            if (k.startsWith(ControllerTopics.VERSION_PREFIX)) {
                Views.VersionNote n = StateStore.parse(v, Views.VersionNote.class, k);
                if (n != null) {
                    notes.put(n.version(), n);
                }
            }
        });

        JvmGcMetrics gc = new JvmGcMetrics();
        gc.bindTo(registry);
        resources.add(gc);
        new JvmMemoryMetrics().bindTo(registry);
        decisions = new DecisionLog(config.history(), registry);
        decisions.restore(store.lastDecisions(config.history()));
        decisions.addListener(store::append);

        metricsRuntime = metricsFactory.apply(config);
        resources.add(metricsRuntime);
        jobs = new JobManager(runner, clock);
        resources.add(jobs);
        rollout = new Rollout(plane(), metricsRuntime.view(), decisions, () -> settings, clock, this::persistRollout);
        rollout.resume(StateStore.parse(stored.get(ControllerTopics.KEY_ROLLOUT), RolloutState.class,
                ControllerTopics.KEY_ROLLOUT));
        meters = new ControllerMetrics(meterSource());
        meters.bindTo(registry);

        loop = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "controller-loop");
            t.setDaemon(true);
            return t;
        });
        policyState = settings.enabled() ? PolicyState.NO_DATA : PolicyState.PAUSED;
        nextPolicyMs = clock.millis(); // the first evaluation right away: the stores hold the last window already
        loop.scheduleWithFixedDelay(this::tick, 0, config.tickMs(), TimeUnit.MILLISECONDS);

        http = AdminApi.create(this, registry, config.insecure() ? null : config.adminToken(), this::health);
        http.start(config.adminHost(), config.adminPort());
        ControlMessage c = follower.control();
        log.info("controller up: admin API on port {}, active version {}, keep ratio {}, policy {}", adminPort(),
                c == null ? "(none yet)" : c.activeVersion(), c == null ? "-" : c.keepRatio(),
                settings.enabled() ? "enabled" : "paused");
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

    // ---- the loop ----

    private void tick() {
        try {
            rollout.step();
            long now = clock.millis();
            if (now >= nextPolicyMs) {
                nextPolicyMs = now + (long) (settings.windowS() * 1000);
                evaluate();
            }
            if (now >= nextMetersMs) {
                nextMetersMs = now + 2000;
                meters.update(recent(), follower.control(), workersByVersion());
            }
        } catch (RuntimeException e) {
            log.warn("controller loop: {}", e.toString(), e);
        }
    }

    private void evaluate() {
        ControlMessage c = follower.control();
        if (c == null) {
            policyState = PolicyState.NO_DATA;
            return;
        }
        Observation o = new Observation(c.activeVersion(), publishedParent(c.activeVersion()), c.keepRatio(),
                fresh() ? recent().get(c.activeVersion()) : null, jobs.running(), rollout.inProgress());
        Policy.Outcome out = Policy.decide(settings, o, memory, clock.instant());
        policyState = out.state();
        if (out.decision() != null) {
            act(out.decision(), c); // throws: the memory stays as it was, so the rule tries again next window
        }
        remember(out.memory());
    }

    private void act(Decision d, ControlMessage c) {
        switch (d.action()) {
            case LOWER_KEEP_RATIO, RAISE_KEEP_RATIO -> {
                plane().setControl(c.withKeep(d.keepRatio()));
                decisions.record(d);
            }
            case START_PRUNE -> {
                try {
                    startPrune(d.version(), d.flopsRatio(), d.reason());
                    decisions.record(d);
                } catch (ControllerException e) {
                    decisions.record(Decision.of(clock.instant(), Rule.REPRUNE, Action.HOLD, d.reason()
                            + "; not started: " + e.getMessage(), Policy.ACTOR).withVersion(d.version()));
                }
            }
            case ROLLBACK_TO_PARENT -> {
                plane().setControl(c.withActive(d.version()).withKeep(d.keepRatio()));
                note(c.activeVersion(), "rolled_back", d.reason());
                note(d.version(), "active", "rolled back to from " + c.activeVersion());
                decisions.record(d);
            }
            default -> decisions.record(d);
        }
    }

    private void remember(PolicyMemory next) {
        boolean durableChange = !next.durable().equals(memory.durable());
        memory = next;
        if (durableChange) {
            store.put(ControllerTopics.KEY_MEMORY, next.durable());
        }
    }

    /**
     * Whether the metrics are current: the windows end at the newest prediction counted, so when traffic stops the
     * last window would otherwise be judged again and again.
     */
    private boolean fresh() {
        Instant latest = metricsRuntime.latest();
        return latest == null || clock.millis() - latest.toEpochMilli() <= settings.windowS() * 1000;
    }

    private Map<String, VersionStats> recent() {
        try {
            Map<String, VersionStats> m = metricsRuntime.view().recent(Duration.ofMillis((long) (settings.windowS()
                    * 1000)));
            metricsProblem = metricsRuntime.problem();
            return m;
        } catch (RuntimeException e) {
            // The topology is starting or rebalancing: no figures this time.
            metricsProblem = "metrics unavailable: " + e.getMessage();
            return Map.of();
        }
    }

    // ---- prune jobs ----

    private JobStatus startPrune(String parent, double ratio, String reason) {
        if (signingKey == null) {
            throw ControllerException.conflict("no signing.private.key is configured, so a re-pruned version could"
                    + " not be published");
        }
        if (!follower.versions().containsKey(parent)) {
            throw ControllerException.conflict(parent + " is not published on " + Topics.MODELS
                    + ", so it cannot be fetched to prune");
        }
        String newVersion = newVersionName(parent, ratio);
        Path parentDir = config.workDir().resolve("models").resolve(parent);
        Path outDir = config.workDir().resolve("models").resolve(newVersion);
        return jobs.start(parent, newVersion, ratio, reason, () -> {
            ModelFetcher.fetch(client, parent, parentDir, publicKey);
            FileTrees.delete(outDir);
            return new PruneRequest(parentDir, outDir, newVersion, ratio, config.saliency(), config.prune());
        }, (manager, finished) -> loop.execute(() -> jobDone(finished)));
    }

    private String newVersionName(String parent, double ratio) {
        String base = parent.replaceFirst("-p\\d+-\\d{8}T\\d{6}(-\\d+)?$", "");
        String name = base + "-p" + Math.round(ratio * 100) + "-" + STAMP.format(clock.instant());
        String candidate = name;
        for (int i = 2; follower.versions().containsKey(candidate) || Files.exists(config.workDir().resolve("models")
                .resolve(candidate)); i++) {
            candidate = name + "-" + i;
        }
        return candidate;
    }

    /** A job's end, whoever started it, is told under rule 2 (the re-prune machinery); its reason says who asked. */
    private void jobDone(JobManager.Finished f) {
        Rule rule = Rule.REPRUNE;
        try {
            JobStatus s = f.status();
            meters.jobFinished(s.state(), f.duration());
            Instant now = clock.instant();
            String what = "prune of " + s.parentVersion() + " to " + s.flopsRatio() + " of its FLOPs";
            PruneResult r = f.result();
            if (r == null) {
                decisions.record(Decision.of(now, rule, Action.PRUNE_FAILED, what + " failed after "
                        + f.duration().toSeconds() + " s: " + s.error(), "job").withVersion(s.newVersion()));
                return;
            }
            String made = s.newVersion() + " made from " + s.parentVersion() + ": "
                    + String.format(Locale.ROOT, "%.2f -> %.2f MFLOPs/image (%.2f), validation accuracy %.4f, in %d s",
                            r.flopsBefore() / 1e6, r.flopsAfter() / 1e6, (double) r.flopsAfter() / r.flopsBefore(),
                            r.validationAccuracy(), f.duration().toSeconds());
            if (r.validationAccuracy() < settings.accuracyFloor()) {
                note(s.newVersion(), "rejected", "validation accuracy below the floor " + settings.accuracyFloor());
                decisions.record(Decision.of(now, rule, Action.PRUNE_FAILED, made + ": below the accuracy floor "
                        + settings.accuracyFloor() + ", not published", "job").withVersion(s.newVersion()));
                return;
            }
            decisions.record(Decision.of(now, rule, Action.PRUNE_FINISHED, made, "job").withVersion(s.newVersion()));
            publish(r.out());
            note(s.newVersion(), "published", made);
            if (rollout.inProgress()) {
                decisions.record(Decision.of(clock.instant(), Rule.CANARY, Action.HOLD, s.newVersion() + " published"
                        + " but not rolled out: the rollout of " + rollout.state().version() + " is in progress",
                        Rollout.ACTOR).withVersion(s.newVersion()));
                return;
            }
            rollout.begin(s.newVersion(), what);
        } catch (RuntimeException e) {
            decisions.record(Decision.of(clock.instant(), Rule.CANARY, Action.CANARY_FAILED, "the new version of job "
                    + f.status().id() + " could not be published or rolled out: " + e.getMessage(), Rollout.ACTOR)
                    .withVersion(f.status().newVersion()));
        }
    }

    /** Signs and publishes an artifact, and waits until it is readable on vit.models. */
    private void publish(Path dir) {
        ModelRecords.Publication pub = ModelRecords.fromArtifact(dir, signingKey, ModelRecords.DEFAULT_CHUNK_BYTES);
        Publisher.publishModel(client, pub);
        long deadline = System.nanoTime() + WRITE_VISIBLE.toNanos();
        while (!follower.versions().containsKey(pub.version())) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(pub.version() + " was published but not read back from "
                        + Topics.MODELS + " within " + WRITE_VISIBLE.toSeconds() + " s");
            }
            sleep(50);
        }
    }

    private void persistRollout(RolloutState s) {
        store.put(ControllerTopics.KEY_ROLLOUT, s);
        String status = switch (s.phase()) {
            case LOADING, COMPARING -> "canary";
            case PROMOTED -> "active";
            case ROLLED_BACK -> "rolled_back";
            case FAILED -> "failed";
            case IDLE -> null;
        };
        if (status != null) {
            note(s.version(), status, s.reason());
        }
    }

    private void note(String version, String status, String reason) {
        Views.VersionNote n = new Views.VersionNote(version, status, reason, clock.instant().toString());
        notes.put(version, n);
        store.put(ControllerTopics.VERSION_PREFIX + version, n);
    }

    // ---- the cluster ----

    private ControlPlane plane() {
        return new ControlPlane() {
            @Override
            public ControlMessage control() {
                return follower.control();
            }

            @Override
            public void setControl(ControlMessage next) {
                Publisher.setControl(client, next);
                try {
                    follower.awaitControl(next::equals, WRITE_VISIBLE);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for vit.control", e);
                }
            }

            @Override
            public Map<String, WorkerStatus> liveWorkers() {
                Map<String, WorkerStatus> live = new TreeMap<>();
                long now = clock.millis();
                follower.workers().forEach((id, w) -> {
                    if (now - w.heartbeatMs() <= config.workerTimeoutMs() && !"stopped".equals(w.status().health())) {
                        live.put(id, w.status());
                    }
                });
                return live;
            }
        };
    }

    private Map<String, Integer> workersByVersion() {
        Map<String, Integer> n = new TreeMap<>();
        for (WorkerStatus w : plane().liveWorkers().values()) {
            if (w.modelVersion() != null) {
                n.merge(w.modelVersion(), 1, Integer::sum);
            }
            if (w.canaryVersion() != null && !w.canaryVersion().equals(w.modelVersion())) {
                n.merge(w.canaryVersion(), 1, Integer::sum);
            }
        }
        return n;
    }

    private String publishedParent(String version) {
        ClusterFollower.PublishedVersion v = follower.versions().get(version);
        String parent = v == null ? null : v.manifest().parentVersion();
        return parent != null && follower.versions().containsKey(parent) ? parent : null;
    }

    private ControllerMetrics.Source meterSource() {
        return new ControllerMetrics.Source() {
            @Override
            public ControlMessage control() {
                return follower.control();
            }

            @Override
            public double sloSeconds() {
                return settings.sloMs() / 1000;
            }

            @Override
            public PolicyState policyState() {
                return policyState;
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

    private Map<String, Object> health() {
        Map<String, Object> h = new LinkedHashMap<>();
        boolean following = follower.healthy();
        // Degraded (HTTP 503, so orchestrators restart it) when it cannot follow its topics or its metrics died.
        h.put("status", following && !metricsRuntime.failed() ? "ok" : "degraded");
        h.put("following_topics", following);
        h.put("metrics_problem", metricsProblem);
        return h;
    }

    // ---- admin operations (validated here, carried out on the loop thread, audited) ----

    private <T> T onLoop(Callable<T> task) {
        Future<T> f = loop.submit(task);
        try {
            return f.get(CALL_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException(e.getCause().toString(), e.getCause());
        } catch (TimeoutException e) {
            boolean withdrawn = f.cancel(false);
            throw new IllegalStateException("the controller's loop did not answer within " + CALL_TIMEOUT.toSeconds()
                    + " s; " + (withdrawn ? "the change was withdrawn, not applied" : "it is still running and may apply"));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private void audit(Action action, String actor, String reason, String version, Double keep) {
        Decision d = Decision.of(clock.instant(), Rule.ADMIN, action, reason, actor);
        d = version == null ? d : d.withVersion(version);
        decisions.record(keep == null ? d : d.withKeepRatio(keep));
    }

    private ControlMessage requireControl() {
        ControlMessage c = follower.control();
        if (c == null) {
            throw ControllerException.conflict("no active version on " + Topics.CONTROL + " yet");
        }
        return c;
    }

    @Override
    public Views.Status status() {
        ControlMessage c = follower.control();
        PolicySettings s = settings;
        Map<String, Views.Figures> figures = new TreeMap<>();
        recent().forEach((v, st) -> figures.put(v, Views.Figures.of(st)));
        List<Views.Worker> workers = new ArrayList<>();
        long now = clock.millis();
        new TreeMap<>(follower.workers()).forEach((id, w) -> {
            WorkerStatus st = w.status();
            long age = now - w.heartbeatMs();
            workers.add(new Views.Worker(id, age <= config.workerTimeoutMs() && !"stopped".equals(st.health()),
                    st.health(), st.modelVersion(), st.canaryVersion(), st.keepRatio(), age / 1000.0,
                    st.lastError()));
        });
        RolloutState r = rollout.state();
        return new Views.Status(clock.instant().toString(), c == null ? null : c.activeVersion(),
                c == null ? null : c.canaryVersion(), c == null ? null : c.canaryShare(),
                c == null ? null : c.keepRatio(), policyState.id(), s.enabled(), s.sloMs(), s.windowS(), figures,
                workers, jobs.current(), r.phase() == RolloutPhase.IDLE ? null : r, metricsProblem);
    }

    @Override
    public List<Views.Version> versions() {
        ControlMessage c = follower.control();
        Map<String, Integer> loaded = workersByVersion();
        List<Views.Version> out = new ArrayList<>();
        follower.versions().entrySet().stream()
                .sorted(Comparator.comparingLong(e -> e.getValue().publishedMs()))
                .forEach(e -> {
                    var m = e.getValue().manifest();
                    String v = e.getKey();
                    String role = c == null ? null : v.equals(c.activeVersion()) ? "active"
                            : v.equals(c.canaryVersion()) ? "canary" : null;
                    Views.VersionNote n = notes.get(v);
                    out.add(new Views.Version(v, m.parentVersion(), role, m.flopsPerImage(), m.parameters(),
                            m.testAccuracy(), m.validationAccuracy(), m.createdAt(),
                            Instant.ofEpochMilli(e.getValue().publishedMs()).toString(), e.getValue().signed(),
                            loaded.getOrDefault(v, 0), n == null ? null : n.status(), n == null ? null : n.reason(),
                            n == null ? null : n.time()));
                });
        return out;
    }

    @Override
    public List<Decision> decisions() {
        return decisions.history();
    }

    @Override
    public PolicySettings policy() {
        return settings;
    }

    @Override
    public PolicySettings setPolicy(JsonNode patch, String actor) {
        return onLoop(() -> {
            PolicySettings before = settings;
            PolicySettings after = before.merge(patch);
            JsonNode b = io.vitstream.util.Json.MAPPER.valueToTree(before);
            JsonNode a = io.vitstream.util.Json.MAPPER.valueToTree(after);
            List<String> changes = new ArrayList<>();
            a.fieldNames().forEachRemaining(f -> {
                if (!a.get(f).equals(b.get(f))) {
                    changes.add(f + " " + b.get(f) + " -> " + a.get(f));
                }
            });
            settings = after;
            store.put(ControllerTopics.KEY_POLICY, after);
            nextPolicyMs = after.enabled() != before.enabled() ? clock.millis()
                    : Math.min(nextPolicyMs, clock.millis() + (long) (after.windowS() * 1000));
            audit(Action.SET_POLICY, actor, changes.isEmpty() ? "policy set, unchanged"
                    : "policy changed: " + String.join(", ", changes), null, null);
            return after;
        });
    }

    @Override
    public JobStatus prune(double flopsRatio, String actor) {
        if (!(flopsRatio > 0 && flopsRatio < 1)) {
            throw new IllegalArgumentException("target_flops_ratio must be in (0, 1), got " + flopsRatio);
        }
        return onLoop(() -> {
            ControlMessage c = requireControl();
            String reason = "operator " + actor + " asked for " + c.activeVersion() + " at " + flopsRatio
                    + " of its FLOPs";
            JobStatus j = startPrune(c.activeVersion(), flopsRatio, reason);
            remember(memory.pruneStarted(clock.millis()));
            Decision d = Decision.of(clock.instant(), Rule.ADMIN, Action.START_PRUNE, reason + ": " + j.id()
                    + " makes " + j.newVersion(), actor).withVersion(c.activeVersion()).withFlopsRatio(flopsRatio);
            decisions.record(d);
            return j;
        });
    }

    @Override
    public Views.Control activate(String version, String actor) {
        return onLoop(() -> {
            if (!follower.versions().containsKey(version)) {
                throw ControllerException.notFound("unknown version " + version + " (not published on "
                        + Topics.MODELS + ")");
            }
            if (rollout.inProgress()) {
                rollout.abort(actor, "operator activated " + version);
            }
            ControlMessage before = follower.control();
            double keep = before == null ? 1.0 : before.keepRatio();
            ControlMessage next = before == null ? ControlMessage.active(version, keep) : before.withActive(version);
            plane().setControl(next);
            note(version, "active", "activated by " + actor);
            audit(Action.ACTIVATE, actor, version + " activated" + (before == null ? ""
                    : " (was " + before.activeVersion() + ")") + " at keep ratio " + keep, version, keep);
            return Views.Control.of(next);
        });
    }

    @Override
    public Views.Control rollback(String actor) {
        return onLoop(() -> {
            if (rollout.inProgress()) {
                rollout.abort(actor, "operator rollback");
                return Views.Control.of(requireControl());
            }
            ControlMessage c = requireControl();
            String parent = publishedParent(c.activeVersion());
            if (parent == null) {
                throw ControllerException.conflict("no canary to roll back, and " + c.activeVersion()
                        + " has no published parent to roll back to");
            }
            ControlMessage next = c.withActive(parent);
            plane().setControl(next);
            remember(memory.rolledBack(clock.millis()));
            note(c.activeVersion(), "rolled_back", "rolled back by " + actor);
            note(parent, "active", "rolled back to from " + c.activeVersion() + " by " + actor);
            audit(Action.ROLLBACK_TO_PARENT, actor, c.activeVersion() + " rolled back to its parent " + parent,
                    parent, null);
            return Views.Control.of(next);
        });
    }

    @Override
    public Views.Control setKeepRatio(double keepRatio, String actor) {
        if (!(keepRatio > 0 && keepRatio <= 1)) {
            throw new IllegalArgumentException("keep_ratio must be in (0, 1], got " + keepRatio);
        }
        return onLoop(() -> {
            ControlMessage c = requireControl();
            ControlMessage next = c.withFixedKeep(keepRatio);
            plane().setControl(next);
            remember(memory.keepChanged(clock.millis()));
            audit(Action.SET_KEEP_RATIO, actor, String.format(Locale.ROOT, "keep ratio %.2f -> %.2f (the rules wait"
                    + " %.0f s before changing it)", c.keepRatio(), keepRatio, settings.keepCooldownS()),
                    c.activeVersion(), keepRatio);
            return Views.Control.of(next);
        });
    }

    // ---- lifecycle ----

    @Override
    public void close() {
        if (http != null) {
            http.stop();
        }
        if (loop != null) {
            loop.shutdownNow();
            try {
                loop.awaitTermination(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (int i = resources.size() - 1; i >= 0; i--) {
            try {
                resources.get(i).close();
            } catch (Exception e) {
                log.warn("closing {}: {}", resources.get(i).getClass().getSimpleName(), e.toString());
            }
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
