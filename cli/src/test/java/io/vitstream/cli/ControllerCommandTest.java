package io.vitstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code vitstream controller} and the demo's controller options refuse bad settings with one line, exit 2. */
class ControllerCommandTest {
    @TempDir
    Path tmp;

    private static void assertOneLineError(CliRun r, String... fragments) {
        assertThat(r.code()).as(r.err()).isEqualTo(2);
        String err = r.err().strip();
        assertThat(err).doesNotContain("\n").startsWith("error: ").doesNotContain("Exception").doesNotContain("\tat ");
        for (String f : fragments) {
            assertThat(err).contains(f);
        }
    }

    @Test
    void refusesToRunWithoutATokenUnlessInsecure() {
        assertOneLineError(CliRun.of("controller", "--bootstrap", "127.0.0.1:9"), "admin.token is required",
                "admin.insecure=true (--insecure)");
    }

    @Test
    void namesEveryInvalidSetting() throws Exception {
        Path token = Files.writeString(tmp.resolve("token"), "short\n");
        assertOneLineError(CliRun.of("controller", "--bootstrap", "127.0.0.1:9", "--admin-token-file",
                token.toString(), "--slo-ms", "-3", "--set", "policy.keep.floor=2", "--set", "prune.epochs=x",
                "--set", "prune.hessian.probes=0", "--set", "nonsense=1"), "admin.token must be at least 16 characters",
                "prune.epochs must be an integer", "prune.hessian.probes must be between 1 and 10000, got 0",
                "slo_ms must be > 0", "keep_floor must be in (0.0, 1.0]", "unknown setting nonsense");
        assertOneLineError(CliRun.of("controller", "--insecure", "--set", "novalue"), "--set expects name=value");
        assertOneLineError(CliRun.of("controller", "--insecure", "--bootstrap", "127.0.0.1:9", "--admin-token-file",
                tmp.resolve("absent").toString()), "cannot read --admin-token-file");
        // A token and --insecure together, a signing key without the key that verifies parents, a prune setting
        // that would only fail minutes into a job: each refused at start.
        Path good = Files.writeString(tmp.resolve("good-token"), "0123456789abcdef0123\n");
        Path key = Files.writeString(tmp.resolve("signing.key"), "not read before the check\n");
        assertOneLineError(CliRun.of("controller", "--insecure", "--bootstrap", "127.0.0.1:9", "--admin-token-file",
                good.toString(), "--signing-key", key.toString(), "--set", "prune.temperature=0.5"),
                "give a token, or say insecure, not both", "signing.private.key needs signing.public.key",
                "distillation temperature must be >= 1");
    }

    @Test
    void readsAPolicyFile() throws Exception {
        Path bad = Files.writeString(tmp.resolve("policy.json"), "{\"slo_ms\": 100, \"window_s\": \"soon\"}");
        assertOneLineError(CliRun.of("controller", "--insecure", "--bootstrap", "127.0.0.1:9", "--policy",
                bad.toString()), "window_s must be a number");
        Path broken = Files.writeString(tmp.resolve("broken.json"), "{\"slo_ms\": ");
        assertOneLineError(CliRun.of("controller", "--insecure", "--bootstrap", "127.0.0.1:9", "--policy",
                broken.toString()), "cannot read policy file");
        assertThat(ControllerCommand.policySettings(Files.writeString(tmp.resolve("ok.json"),
                "{\"slo_ms\": 120, \"enabled\": false}"))).containsEntry("policy.slo.ms", "120")
                .containsEntry("policy.enabled", "false");
    }

    @Test
    void demoChecksItsControllerOptions() {
        assertOneLineError(CliRun.of("demo", "--slo-ms", "0"), "--slo-ms must be positive");
        assertOneLineError(CliRun.of("demo", "--slo-ms", "100", "--rate", "0"), "--rate must be in 1..100000");
    }
}
