package io.vitstream.controller.error;

/**
 * A request the controller refuses for a reason other than bad input (bad input is {@link IllegalArgumentException}):
 * the thing asked about does not exist, or it conflicts with what is running. The admin API maps the kind to 404 or
 * 409 in one place; domain code never names an HTTP status.
 */
public final class ControllerException extends RuntimeException {
    public enum Kind {
        /** An unknown version (or other named thing). */
        NOT_FOUND,
        /** Conflicts with the current state: a prune job already runs, no parent to roll back to ... */
        CONFLICT
    }

    private final Kind kind;

    private ControllerException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public static ControllerException notFound(String message) {
        return new ControllerException(Kind.NOT_FOUND, message);
    }

    public static ControllerException conflict(String message) {
        return new ControllerException(Kind.CONFLICT, message);
    }

    public Kind kind() {
        return kind;
    }
}
