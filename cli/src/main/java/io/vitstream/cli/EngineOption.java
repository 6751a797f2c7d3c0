package io.vitstream.cli;

import io.vitstream.engine.EngineKind;
import io.vitstream.engine.EngineOptions;
import picocli.CommandLine.Option;

/** {@code --engine}: which engine runs forward passes (setting {@code engine} for the services). */
final class EngineOption {
    static final String DESCRIPTION = "Inference engine: auto (= onnxruntime), onnxruntime (the ONNX graph written"
            + " from the verified model) or pytorch (DJL's eager engine, the reference) (default: ${DEFAULT-VALUE}).";

    @Option(names = "--engine", defaultValue = "auto", paramLabel = "auto|onnxruntime|pytorch",
            description = DESCRIPTION)
    String engine;

    /** The engine asked for; a bad value is one line naming the accepted ones (exit 2). */
    EngineKind kind() {
        return EngineKind.parse(engine);
    }

    EngineOptions options() {
        return EngineOptions.of(kind());
    }
}
