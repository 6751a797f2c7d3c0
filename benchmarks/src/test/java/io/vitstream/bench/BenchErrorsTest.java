package io.vitstream.bench;

import static io.vitstream.cli.CliErrorsTest.assertOneLineError;
import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.cli.CliRun;
import org.junit.jupiter.api.Test;

/** Bad arguments to the benchmarks exit 2 with one clear line, before anything is measured; --help works. */
class BenchErrorsTest {
    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    @Test
    void helpOnTheBenchCommands() {
        CliRun r = run("bench", "--help");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("Usage: vitstream bench").contains("methods", "serve", "adapt", "soak");
        assertThat(run("bench", "model", "--help").out()).contains("sgemm");
    }

    @Test
    void benchMethodsRefusesUnknownMethodsAndBudgetsOutsideZeroOne() {
        assertOneLineError(run("bench", "methods", "--flops-ratio", "1.5"), "--flops-ratio must be in (0, 1)", "1.5");
        assertOneLineError(run("bench", "methods", "--flops-ratio", "0"), "--flops-ratio must be in (0, 1)");
        assertOneLineError(run("bench", "methods", "--keep-ratios", "0.7,1.2"), "--keep-ratios must each be in (0, 1]",
                "1.2");
        assertOneLineError(run("bench", "methods", "--structured", "obd,slim"), "--structured: unknown saliency 'slim'",
                "vit-slim or x-pruner");
        assertOneLineError(run("bench", "methods", "--tokens", "tome,random"), "--tokens:", "random");
        assertOneLineError(run("bench", "methods", "--mask-l1-scale", "-1"), "--mask-*: mask L1 scale");
    }

    @Test
    void benchServeArgumentsAreChecked() {
        assertOneLineError(run("bench", "serve", "--rounds", "0"), "--rounds must be at least 1, got 0");
        assertOneLineError(run("bench", "serve", "--placement", "shared,nowhere"),
                "--placement takes shared and/or split, got 'nowhere'");
    }

    @Test
    void benchAdaptAndSoakArgumentsAreChecked() {
        assertOneLineError(run("bench", "adapt", "--profile", "0.25:30,fast:120"),
                "--profile takes LOAD:SECONDS phases with positive numbers (e.g. 0.25:30,1.5:120), got 'fast:120'");
        assertOneLineError(run("bench", "adapt", "--rows", "dense,oracle"),
                "--rows takes dense, floor, controller, adaptive; got 'oracle'");
        assertOneLineError(run("bench", "adapt", "--floor", "1.5"), "--floor must be in (0, 1], got 1.5");
        assertOneLineError(run("bench", "soak", "--minutes", "0"), "--minutes must be positive, got 0.0");
        assertOneLineError(run("bench", "soak", "--rate", "-5"), "--rate must be 0 (80% of capacity) or positive");
    }
}
