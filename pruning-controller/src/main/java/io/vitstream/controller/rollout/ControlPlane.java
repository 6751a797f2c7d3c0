package io.vitstream.controller.rollout;

import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.WorkerStatus;
import java.util.Map;
import java.util.TreeMap;

/** What a rollout needs of the cluster: the desired state on vit.control, and what live workers report. */
public interface ControlPlane {
    /** The desired state now, or null when nothing was ever set. */
    ControlMessage control();

    /** Replaces the desired state; returns once the controller reads it back from vit.control. */
    void setControl(ControlMessage next);

    /** Latest heartbeat of each live worker (recent, not stopped), by worker id. */
    Map<String, WorkerStatus> liveWorkers();

    /** Null while vit.control can be written, else why not. */
    default String problem() {
        return null;
    }

    /** Live workers reporting each loaded version (the active one or a canary). */
    default Map<String, Integer> workersByVersion() {
        Map<String, Integer> n = new TreeMap<>();
        for (WorkerStatus w : liveWorkers().values()) {
            if (w.modelVersion() != null) {
                n.merge(w.modelVersion(), 1, Integer::sum);
            }
            if (w.canaryVersion() != null && !w.canaryVersion().equals(w.modelVersion())) {
                n.merge(w.canaryVersion(), 1, Integer::sum);
            }
        }
        return n;
    }
}
