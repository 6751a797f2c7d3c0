package io.vitstream.serving.decode;

/** An input that cannot become model pixels, with the reason and a one-line detail. */
public final class DecodeException extends Exception {
    private final RejectReason reason;

    public DecodeException(RejectReason reason, String detail) {
        super(detail);
        this.reason = reason;
    }

    public DecodeException(RejectReason reason, String detail, Throwable cause) {
        super(detail, cause);
        this.reason = reason;
    }

    public RejectReason reason() {
        return reason;
    }
}
