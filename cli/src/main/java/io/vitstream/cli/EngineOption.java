package io.vitstream.cli;

import io.vitstream.engine.EngineKind;
import io.vitstream.engine.EngineOptions;
import picocli.CommandLine.Option;

/** {@code --engine}: which engine runs forward passes (setting {@code engine} for the services). */
public final class EngineOption {
    public static final String DESCRIPTION = "Inference engine: auto (= onnxruntime), onnxruntime (the ONNX graph written"
            + " from the verified model) or pytorch (DJL's eager engine, the reference) (default: ${DEFAULT-VALUE}).";

    @Option(names = "--engine", defaultValue = "auto", paramLabel = "auto|onnxruntime|pytorch",
            description = DESCRIPTION)
    public String engine;

    /** The engine asked for; a bad value is one line naming the accepted ones (exit 2). */
    public EngineKind kind() {
        return EngineKind.parse(engine);
    }

    public EngineOptions options() {
        return EngineOptions.of(kind());
    }
}
