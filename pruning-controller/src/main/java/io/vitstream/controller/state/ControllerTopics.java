package io.vitstream.controller.state;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;

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

    public static List<NewTopic> definitions(short replication) {
        return List.of(
                new NewTopic(STATE, 1, replication).configs(Map.of(
                        TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT)),
                new NewTopic(DECISIONS, 1, replication).configs(Map.of(
                        TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_DELETE,
                        TopicConfig.RETENTION_MS_CONFIG, String.valueOf(DECISIONS_RETENTION_MS))));
    }

    /** Creates the topics that do not exist yet. */
    public static void createAll(Admin admin, short replication) throws InterruptedException, ExecutionException {
        for (NewTopic t : definitions(replication)) {
            try {
                admin.createTopics(List.of(t)).all().get();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw e;
                }
            }
        }
    }
}
