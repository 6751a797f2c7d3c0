package io.vitstream.controller.state;

import java.nio.file.Path;

/** vit.models as a re-prune uses it: fetch the parent, publish the child. */
public interface ModelRepository {
    /** Whether a new version can be published (a signing key is configured); null when it can, else why not. */
    String cannotPublish();

    /** Writes {@code version}'s artifact, verified, to {@code dir}. */
    void fetch(String version, Path dir);

    /** Signs and publishes the artifact in {@code dir}; returns its version once it is readable on vit.models. */
    String publish(Path dir);
}
