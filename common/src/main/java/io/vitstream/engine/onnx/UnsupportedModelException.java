package io.vitstream.engine.onnx;

/** A model (or keep policy) the ONNX writer cannot express; the message names what, in one line. */
public final class UnsupportedModelException extends IllegalArgumentException {
    public UnsupportedModelException(String message) {
        super("cannot export to ONNX: " + message);
    }
}
