package io.vitstream.cli;

import io.vitstream.artifact.ModelArtifact;
import io.vitstream.engine.onnx.ModelWeights;
import io.vitstream.engine.onnx.VitOnnxExporter;
import io.vitstream.model.KeepPolicy;
import io.vitstream.model.SparsifierConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code vitstream export-onnx}: the ONNX graph the serving engine runs, written to a file. */
@Command(name = "export-onnx", mixinStandardHelpOptions = true,
        description = {
            "Write the ONNX model (opset 17) that the onnxruntime engine serves for a verified model artifact at one keep"
                + " ratio: token selection (top-k, kept indices in token order, gather) is inside the graph, k fixed.",
            "Input 'pixels' (batch, C, H, W), normalised as the manifest's input says; outputs 'logits' (batch, classes) and"
                + " 'kept<s>' (batch, k) per stage that drops tokens."
        })
final class ExportOnnxCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, description = "Model directory (manifest.json + weights).")
    Path model;

    @Option(names = "--keep-ratio", defaultValue = "1.0",
            description = "Fraction of tokens kept at each sparsifier stage, in (0, 1] (default: ${DEFAULT-VALUE} = dense).")
    double keepRatio;

    @Option(names = "--method", description = "Token reduction: learned (DynamicViT predictors), cls-attention"
            + " (training-free EViT baseline), tome or grid-merge (token merging at the FLOPs of dropping at the keep"
            + " ratio) (default: learned where the model has predictors, else cls-attention).")
    String method;

    @Option(names = "--package-token", description = "Fuse dropped tokens into one package token instead of discarding them.")
    boolean packageToken;

    @Option(names = "--out", required = true, description = "ONNX file to write.")
    Path out;

    @Override
    public Integer call() throws Exception {
        try (ModelArtifact.Loaded loaded = ModelArtifact.load(model)) {
            SparsifierConfig own = loaded.manifest().sparsifier();
            KeepPolicy.Method m = method != null ? KeepPolicy.Method.parse(method) : KeepPolicy.defaultMethod(own);
            KeepPolicy policy = new KeepPolicy(keepRatio, m, packageToken);
            byte[] graph = VitOnnxExporter.export(loaded.manifest().architecture(), own, ModelWeights.of(loaded.model()),
                    policy);
            Path parent = out.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            Files.write(out, graph);
            spec.commandLine().getOut().printf(Locale.ROOT, "wrote %s (%d bytes): model %s at keep ratio %s (%s%s)%n",
                    out, graph.length, loaded.manifest().version(), keepRatio, m.id(),
                    packageToken ? ", package token" : "");
            spec.commandLine().getOut().flush();
        }
        return 0;
    }
}
