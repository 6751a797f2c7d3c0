package io.vitstream.engine;

import java.util.Locale;

/** The {@code engine} setting: which implementation of {@link InferenceEngine} runs forward passes. */
public enum EngineKind {
    /** The default: ONNX Runtime. */
    AUTO("auto"),
    ONNXRUNTIME("onnxruntime"),
    PYTORCH("pytorch");

    private final String id;

    EngineKind(String id) {
        this.id = id;
    }

    public String id() {
        return id;
    }

    /** What {@code auto} stands for. */
    public EngineKind resolve() {
        return this == AUTO ? ONNXRUNTIME : this;
    }

    /** Parses a setting value; the error names the accepted ones. */
    public static EngineKind parse(String value) {
        String v = value == null ? "" : value.trim().toLowerCase(Locale.ROOT);
        for (EngineKind k : values()) {
            if (k.id.equals(v) || (k == ONNXRUNTIME && (v.equals("onnx") || v.equals("ort")))) {
                return k;
            }
        }
        throw new IllegalArgumentException("engine must be auto, onnxruntime or pytorch, got '" + value + "'");
    }

    @Override
    public String toString() {
        return id;
    }
}
