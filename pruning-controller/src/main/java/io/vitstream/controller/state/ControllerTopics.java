package io.vitstream.controller.state;

import io.vitstream.kafka.Replication;
import io.vitstream.kafka.Topics;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;

/**
 * The controller's own topics (the contract's topics are in {@code io.vitstream.kafka.Topics}); the only place their
 * names are written. {@code vit.control}, {@code vit.models} and {@code vit.worker-status} stay the source of truth for
 * what is served; these keep what only the controller knows, so that it restarts anywhere.
 */
public final class ControllerTopics {
    /**
     * Compacted, one partition. Keys: {@value #KEY_POLICY} (policy settings as last set), {@value #KEY_MEMORY}
     * (cool-down times), {@value #KEY_ROLLOUT} (the current or last rollout), {@code version/<v>} (what happened to a
     * version: canary, promoted, rolled back, failed, and why).
     */
    public static final String STATE = "vit.controller-state";
    /** Key: rule id. Value: a decision (JSON). Time-retained history, read back on restart. */
    public static final String DECISIONS = "vit.controller-decisions";

    public static final String KEY_POLICY = "policy";
    public static final String KEY_MEMORY = "memory";
    public static final String KEY_ROLLOUT = "rollout";
    public static final String VERSION_PREFIX = "version/";

    /** Decisions are kept this long (and the newest {@code history} of them are restored at start). */
    public static final long DECISIONS_RETENTION_MS = 30L * 24 * 3600 * 1000;

    private ControllerTopics() {}

    /** The controller's topics with {@code replication} replicas and the brokers' default min ISR. */
    public static List<NewTopic> definitions(short replication) {
        return definitions(new Replication(replication, Replication.BROKER_DEFAULT));
    }

    /** The controller's topics replicated as {@code replication} says (see {@link Topics#topic}). */
    public static List<NewTopic> definitions(Replication replication) {
        return List.of(
                Topics.topic(STATE, 1, replication, Map.of(
                        TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT)),
                Topics.topic(DECISIONS, 1, replication, Map.of(
                        TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_DELETE,
                        TopicConfig.RETENTION_MS_CONFIG, String.valueOf(DECISIONS_RETENTION_MS))));
    }

    /** Creates the topics that do not exist yet. */
    public static void createAll(Admin admin, short replication) throws InterruptedException, ExecutionException {
        Topics.createAll(admin, definitions(replication));
    }

    /** Creates the topics that do not exist yet, replicated as {@code replication} says. */
    public static void createAll(Admin admin, Replication replication) throws InterruptedException,
            ExecutionException {
        Topics.createAll(admin, definitions(replication));
    }
}
