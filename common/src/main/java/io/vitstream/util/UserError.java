package io.vitstream.util;

/**
 * An error caused by the user's input (arguments, files, settings) rather than a bug. The CLI prints its message as
 * one line, without a stack trace, and exits non-zero.
 */
public class UserError extends RuntimeException {
    public UserError(String message) {
        super(message);
    }

    public UserError(String message, Throwable cause) {
        super(message, cause);
    }
}
