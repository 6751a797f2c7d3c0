package io.vitstream.controller.rollout;

import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.WorkerStatus;
import java.util.Map;

/** What a rollout needs of the cluster: the desired state on vit.control, and what live workers report. */
public interface ControlPlane {
    /** The desired state now, or null when nothing was ever set. */
    ControlMessage control();

    /** Replaces the desired state; returns once the controller reads it back from vit.control. */
    void setControl(ControlMessage next);

    /** Latest heartbeat of each live worker (recent, not stopped), by worker id. */
    Map<String, WorkerStatus> liveWorkers();
}
