package io.vitstream.controller;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.controller.admin.Views;
import io.vitstream.controller.policy.KeepMode;
import io.vitstream.controller.policy.PolicyMemory;
import io.vitstream.controller.policy.PolicySettings;
import io.vitstream.controller.rollout.RolloutPhase;
import io.vitstream.controller.rollout.RolloutState;
import io.vitstream.kafka.JsonSerde;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a restarted controller takes back from its state topic: the policy, the cool-downs, the version notes. */
class PolicyStoreTest {
    @TempDir
    Path tmp;

    private final Fakes.State state = new Fakes.State();

    @Test
    void aPolicyStoredByAnOlderControllerKeepsItsFieldsAndGainsTheNewOnesWithTheConfigOnTop() {
        // Written before keep_mode, keep_ceiling and at_floor_share existed.
        byte[] old = "{\"enabled\": true, \"slo_ms\": 120.0, \"window_s\": 5.0, \"keep_floor\": 0.6}"
                .getBytes(StandardCharsets.UTF_8);
        PolicyMemory m = new PolicyMemory(4, 2, 1000, 2000, 3000, 4000);
        PolicyStore p = PolicyStore.restore(Map.of("policy", old, "memory", JsonSerde.bytes(m)),
                Fakes.config(tmp, Map.of("policy.window.s", "2")), state);
        assertThat(p.previous().sloMs()).isEqualTo(120);
        assertThat(p.previous().keepMode()).isEqualTo(KeepMode.ADAPTIVE);
        PolicySettings s = p.settings();
        assertThat(s.sloMs()).isEqualTo(120);
        assertThat(s.keepFloor()).isEqualTo(0.6);
        assertThat(s.keepCeiling()).isEqualTo(1.0);
        assertThat(s.windowS()).isEqualTo(2);
        assertThat(state.records.get("policy")).as("written back as now configured").isEqualTo(s);
        assertThat(p.memory()).as("the cool-downs; the runs of windows start again")
                .isEqualTo(new PolicyMemory(0, 0, 1000, 2000, 3000, 4000));

        PolicyStore first = PolicyStore.restore(Map.of(), Fakes.config(tmp, Map.of()), new Fakes.State());
        assertThat(first.previous()).isNull();
        assertThat(first.settings()).isEqualTo(PolicySettings.defaults());
    }

    @Test
    void theMemoryIsWrittenOnlyWhenItsCoolDownsChange() {
        PolicyStore p = PolicyStore.restore(Map.of(), Fakes.config(tmp, Map.of()), state);
        state.records.clear();
        p.remember(new PolicyMemory(3, 0, 0, 0, 0, 0));
        assertThat(state.records).isEmpty();
        p.remember(p.memory().keepChanged(5000));
        assertThat(state.records.get("memory")).isEqualTo(new PolicyMemory(0, 0, 5000, 0, 0, 0));
    }

    @Test
    void versionNotesAreRestoredAndFollowTheRollout() {
        Fakes.MutableClock clock = new Fakes.MutableClock();
        VersionNotes notes = new VersionNotes(state, clock);
        notes.restore(Map.of("version/v1", JsonSerde.bytes(new Views.VersionNote("v1", "active", "promoted", "t")),
                "policy", "{}".getBytes(StandardCharsets.UTF_8)));
        assertThat(notes.get("v1").status()).isEqualTo("active");
        RolloutState loading = new RolloutState(RolloutPhase.LOADING, "v2", "v1", 0.25, "t", null, null, "job-1",
                List.of(), null, null, null, null);
        notes.rollout(loading);
        assertThat(notes.get("v2").status()).isEqualTo("canary");
        assertThat(state.records.get("version/v2")).isEqualTo(notes.get("v2"));
        notes.rollout(RolloutState.IDLE);
        assertThat(state.records).hasSize(1);
    }
}
