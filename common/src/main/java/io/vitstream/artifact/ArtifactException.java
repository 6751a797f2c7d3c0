package io.vitstream.artifact;

import io.vitstream.util.UserError;

/** A model artifact that cannot be used: missing, corrupt, of an unknown format, or not matching its manifest. */
public class ArtifactException extends UserError {
    public ArtifactException(String message) {
        super(message);
    }

    public ArtifactException(String message, Throwable cause) {
        super(message, cause);
    }
}
