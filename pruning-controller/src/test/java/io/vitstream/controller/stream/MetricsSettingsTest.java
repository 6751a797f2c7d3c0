package io.vitstream.controller.stream;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class MetricsSettingsTest {
    @Test
    void rejectsWindowsThatCannotWork() {
        Duration s = Duration.ofSeconds(10);
        assertThatThrownBy(() -> new MetricsSettings(Duration.ZERO, s, s, Duration.ofHours(1)))
                .hasMessage("slice must be positive, got PT0S");
        assertThatThrownBy(() -> new MetricsSettings(s, s, Duration.ofSeconds(-1), Duration.ofHours(1)))
                .hasMessageContaining("joinGrace must be zero or positive");
        assertThatThrownBy(() -> new MetricsSettings(s, Duration.ofMinutes(5), s, Duration.ofMinutes(5)))
                .hasMessageStartingWith("retention must be at least slice + joinWindow + joinGrace (PT5M20S)");
        MetricsSettings.defaults(); // valid
    }
}
