package io.vitstream.controller;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vitstream.controller.job.JobStatus;
import io.vitstream.controller.policy.FleetLoad;
import io.vitstream.controller.policy.PolicyState;
import io.vitstream.controller.rollout.RolloutPhase;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.WorkerStatus;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The bounds and the fleet's load as Prometheus renders them: names, units, low-cardinality tags, NaN when unknown. */
class ControllerMetricsTest {
    @Test
    void boundsLoadCapacityAndTheScaleOutHint() {
        ControlMessage[] control = {ControlMessage.active("v1", 1.0).withBounds(0.5, 1.0, 200)};
        ControllerMetrics meters = new ControllerMetrics(new ControllerMetrics.Source() {
            @Override
            public ControlMessage control() {
                return control[0];
            }

            @Override
            public double sloSeconds() {
                return 0.2;
            }

            @Override
            public PolicyState policyState() {
                return PolicyState.STEADY;
            }

            @Override
            public JobStatus job() {
                return null;
            }

            @Override
            public RolloutPhase rolloutPhase() {
                return RolloutPhase.IDLE;
            }
        });
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        meters.bindTo(registry);
        assertThat(registry.scrape()).contains("controller_keep_floor 0.5", "controller_keep_ceiling 1.0",
                "controller_arrival_rate NaN", "controller_workers_needed NaN");

        FleetLoad load = FleetLoad.of(List.of(
                Fakes.worker("w1", "v1", 0.5, new WorkerStatus.Load(60, 10, 100, 0.5, 1.0,
                        Map.of("0.50", 40.0, "1.00", 20.0), 0.9)),
                Fakes.worker("w2", "v1", 0.5, new WorkerStatus.Load(40, 5, 50, 0.5, 1.0, Map.of("0.50", 50.0), 0.5))),
                "v1", 0.5);
        meters.update(Map.of(), control[0], Map.of("v1", 2), load);
        String text = registry.scrape();
        assertThat(text).contains("controller_arrival_rate 100.0", "controller_backlog 15.0",
                "controller_at_floor_share 0.74", "controller_capacity_at_floor 90.0",
                "controller_workers_needed 3.0",
                "controller_capacity{keep_ratio=\"0.50\",version=\"v1\"} 90.0",
                "controller_capacity{keep_ratio=\"1.00\",version=\"v1\"} 20.0");

        // Fixed mode: floor and ceiling read the fixed ratio; versions that left lose their capacity rows.
        control[0] = ControlMessage.active("v2", 0.7);
        meters.update(Map.of(), control[0], Map.of(), null);
        text = registry.scrape();
        assertThat(text).contains("controller_keep_floor 0.7", "controller_keep_ceiling 0.7",
                "controller_arrival_rate NaN").doesNotContain("controller_capacity{");
    }
}
