package io.vitstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.testing.TestData;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad input to the CLI exits non-zero with one clear line and no stack trace. */
public class CliErrorsTest {
    @TempDir
    Path tmp;

    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    /** Exit code 2, one line {@code error: ...} holding every fragment, no stack trace. */
    public static void assertOneLineError(CliRun r, String... fragments) {
        assertThat(r.code()).isEqualTo(2);
        String err = r.err().strip();
        assertThat(err).doesNotContain("\n").startsWith("error: ").doesNotContain("Exception").doesNotContain("\tat ");
        for (String f : fragments) {
            assertThat(err).contains(f);
        }
    }

    @Test
    void missingDatasetDirectory() {
        CliRun r = run("evaluate", "--model", TestData.repoRoot().resolve("models/base").toString(), "--data-dir",
                tmp.resolve("no-such-dir").toString());
        assertOneLineError(r, "Fashion-MNIST directory not found", "no-such-dir");
    }

    @Test
    void missingDatasetDirectoryForTraining() {
        CliRun r = run("train", "--out", tmp.resolve("m").toString(), "--data-dir", tmp.resolve("nothing").toString());
        assertOneLineError(r, "Fashion-MNIST directory not found");
    }

    @Test
    void badEngineAndAnExportTheWriterCannotExpress() throws Exception {
        String base = TestData.repoRoot().resolve("models/base").toString();
        assertOneLineError(run("evaluate", "--model", base, "--engine", "tensorrt"),
                "engine must be auto, onnxruntime or pytorch, got 'tensorrt'");
        assertOneLineError(run("demo", "--engine", "gpu"), "engine must be auto, onnxruntime or pytorch");
        assertOneLineError(run("prune", "--model", base, "--out", tmp.resolve("p").toString(), "--flops-ratio", "0.5",
                "--engine", "x"), "engine must be");
        Path onnx = tmp.resolve("base.onnx");
        // The dense base model has no token predictors: learned selection cannot be written (nor run).
        assertOneLineError(run("export-onnx", "--model", base, "--keep-ratio", "0.5", "--method", "learned", "--out",
                onnx.toString()), "cannot export to ONNX", "no learned token predictors");
        assertThat(onnx).doesNotExist();
        CliRun ok = run("export-onnx", "--model", base, "--keep-ratio", "0.5", "--out", onnx.toString());
        assertThat(ok.code()).isZero();
        assertThat(ok.out()).contains("cls-attention");
        // An ONNX ModelProto: field 1 (ir_version, varint 8) first.
        byte[] head = java.nio.file.Files.readAllBytes(onnx);
        assertThat(head[0]).isEqualTo((byte) 0x08);
        assertThat(head[1]).isEqualTo((byte) 8);
    }

    @Test
    void brokerReplicationBeyondTheNodesIsRefusedBeforeAnythingStarts() {
        assertOneLineError(run("broker", "--nodes", "3", "--replication", "4"),
                "--replication must be between 1 and --nodes (3), got 4");
        assertOneLineError(run("broker", "--replication", "2"), "--replication must be between 1 and --nodes (1), got 2");
        assertOneLineError(run("broker", "--nodes", "3", "--min-insync-replicas", "4"),
                "--min-insync-replicas must be between 1 and --replication (3), got 4");
        assertOneLineError(run("broker", "--nodes", "3", "--replication", "2", "--min-insync-replicas", "3"),
                "--min-insync-replicas must be between 1 and --replication (2), got 3");
        assertOneLineError(run("broker", "--nodes", "0"), "--nodes must be between 1 and 9, got 0");
        assertOneLineError(run("broker", "--nodes", "three"), "--nodes");
    }

    @Test
    void wrongModelDirectory() {
        CliRun r = run("evaluate", "--model", tmp.toString());
        assertOneLineError(r, "manifest.json", "missing");
        CliRun r2 = run("evaluate", "--model", tmp.resolve("absent").toString());
        assertOneLineError(r2, "model directory not found");
    }

    @Test
    void pruneArgumentsAreChecked() {
        String base = TestData.repoRoot().resolve("models/base").toString();
        String out = tmp.resolve("p").toString();
        assertOneLineError(run("prune", "--model", base, "--out", out, "--flops-ratio", "1.5"),
                "--flops-ratio must be in (0, 1)", "1.5");
        assertOneLineError(run("prune", "--model", base, "--out", out, "--flops-ratio", "0"), "--flops-ratio");
        assertOneLineError(run("prune", "--model", tmp.resolve("absent").toString(), "--out", out,
                "--flops-ratio", "0.5"), "model directory not found", "absent");
        assertOneLineError(run("prune", "--model", base, "--out", out, "--flops-ratio", "0.5", "--saliency",
                "magnitude"), "unknown saliency 'magnitude'", "taylor, fisher, obd, hessian, cap, vit-slim or x-pruner");
        assertOneLineError(run("prune", "--model", base, "--out", out, "--flops-ratio", "0.5", "--saliency",
                "hessian", "--hessian-probes", "0"), "--hessian-probes must be positive", "0");
        assertOneLineError(run("prune", "--model", base, "--out", out, "--flops-ratio", "0.5", "--saliency", "cap",
                "--cap-damping", "-0.1"), "--cap-damping must be in (0, 10]", "-0.1");
        assertOneLineError(run("prune", "--model", base, "--out", out, "--flops-ratio", "0.5", "--saliency",
                "vit-slim", "--mask-epochs", "0"), "--mask-*: mask-search epochs must be positive", "0");
        assertOneLineError(run("prune", "--model", base, "--out", out, "--flops-ratio", "0.5", "--saliency",
                "x-pruner", "--mask-lr", "2"), "mask learning rate must be in (0, 1)", "2");
        assertOneLineError(run("prune", "--model", base, "--out", out, "--flops-ratio", "-0.5", "--saliency",
                "x-pruner"), "--flops-ratio must be in (0, 1)", "-0.5");
        assertOneLineError(run("prune", "--model", base, "--out", out), "exactly one of --flops-ratio");
        assertOneLineError(run("prune", "--model", base, "--out", out, "--flops-target", "999999999999"),
                "--flops-target must be in");
    }


    @Test
    void negativeBatch() {
        assertOneLineError(run("evaluate", "--model", "models/base", "--batch", "-4"), "--batch must be positive");
        assertOneLineError(run("evaluate", "--model", TestData.repoRoot().resolve("models/base").toString(), "--split",
                "train"), "--split must be test or validation");
        assertOneLineError(run("train", "--out", tmp.toString(), "--batch", "-1"), "batch size must be positive");
    }



    @Test
    void unknownOptionAndBadNumber() {
        CliRun r = run("evaluate", "--model", "x", "--modle", "y");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).startsWith("error: ").contains("--modle");
        assertOneLineError(run("evaluate", "--model", "x", "--batch", "many"), "many");
    }

    @Test
    void helpOnEverySubcommand() {
        for (String cmd : new String[] {"train", "evaluate", "worker", "controller", "prune", "demo"}) {
            CliRun r = run(cmd, "--help");
            assertThat(r.code()).as(cmd).isZero();
            assertThat(r.out()).as(cmd).contains("Usage: vitstream " + cmd);
        }
    }

    @Test
    void withoutTheBenchmarksModuleBenchSaysSoInOneLine() {
        // The CLI's own class path has no benchmarks (the service image's case); the benchmarks module adds them.
        assertOneLineError(run("bench", "model"), "the benchmarks are not in this build");
    }
}
