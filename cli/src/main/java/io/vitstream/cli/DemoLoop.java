package io.vitstream.cli;

import io.vitstream.controller.Controller;
import io.vitstream.controller.admin.Views;
import io.vitstream.controller.job.JobStatus;
import io.vitstream.controller.policy.FleetLoad;
import io.vitstream.controller.policy.KeepMode;
import io.vitstream.controller.policy.Policy;
import io.vitstream.controller.policy.PolicySettings;
import io.vitstream.controller.rollout.RolloutPhase;
import io.vitstream.controller.rollout.RolloutState;
import io.vitstream.data.LabeledImages;
import io.vitstream.kafka.ControlMessage;
import io.vitstream.kafka.Labels;
import io.vitstream.kafka.Topics;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * {@code vitstream demo --slo-ms X}: labelled images stream at a steady rate while the worker's fast loop and the
 * controller's slow loop work against an SLO; every decision, the prune job's progress and a status line per policy window are printed as they happen,
 * until a re-pruned version is promoted and the latency is back under the SLO (or the time is up).
 */
final class DemoLoop {
    private DemoLoop() {}

    /**
     * The demo's policy and prune settings: short windows and cool-downs so the loop acts within minutes, and a short
     * re-prune (256 calibration images, two epochs on a 4,000-image subset).
     */
    static Map<String, String> settings(double sloMs, Path dataDir) {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("policy.slo.ms", String.valueOf(sloMs));
        s.put("policy.window.s", "5");
        s.put("policy.min.predictions", "20");
        s.put("policy.breach.windows", "2");
        s.put("policy.keep.step", "0.1");
        s.put("policy.keep.floor", "0.5");
        s.put("policy.keep.cooldown.s", "10");
        s.put("policy.headroom.fraction", "0.5");
        s.put("policy.headroom.windows", "6");
        s.put("policy.accuracy.floor", "0.75");
        s.put("policy.min.labelled", "50");
        s.put("policy.prune.cooldown.s", "3600");
        // A short re-prune loses some accuracy: the demo prunes mildly (at least 60% of the FLOPs stay) and accepts a
        // canary within 5 points of the active version (the defaults are 0.3 and 2 points).
        s.put("policy.prune.min.flops.ratio", "0.6");
        s.put("policy.canary.share", "0.25");
        s.put("policy.canary.samples", "200");
        s.put("policy.canary.margin", "0.05");
        s.put("policy.canary.compare.timeout.s", "300");
        s.put("data.dir", dataDir.toString());
        s.put("prune.calibration.images", "256");
        s.put("prune.validation.images", "1000");
        s.put("prune.train.images", "4000");
        s.put("prune.epochs", "2");
        s.put("prune.patience", "1");
        return s;
    }

    static void run(PrintWriter out, LocalServing local, Controller controller, LabeledImages test, int rate,
            Duration duration) throws InterruptedException {
        long t0 = System.nanoTime();
        PolicySettings p = controller.policy();
        String first = controller.control().activeVersion();
        synchronized (out) {
            if (p.keepMode() == KeepMode.FIXED) {
                out.printf(Locale.ROOT, "policy: SLO p95 %.0f ms over %.0f s windows; keep ratio -%.2f after %d windows"
                        + " over (floor %.2f, cool-down %.0f s); at the floor a re-prune to %.1f x SLO / p95 of the"
                        + " FLOPs", p.sloMs(), p.windowS(), p.keepStep(), p.breachWindows(), p.keepFloor(),
                        p.keepCooldownS(), p.pruneSafety());
            } else {
                out.printf(Locale.ROOT, "policy: SLO p95 %.0f ms over %.0f s windows; the worker picks each batch's keep"
                        + " ratio within [%.2f, %.2f]; the floor +%.2f when accuracy < %.2f; when it sits at the floor"
                        + " (%.0f%% of batches) over the SLO for %d windows, a re-prune to %.1f x capacity / arrival of"
                        + " the FLOPs", p.sloMs(), p.windowS(), p.keepFloor(), p.keepCeiling(), p.keepStep(),
                        p.accuracyFloor(), 100 * p.atFloorShare(), p.breachWindows(), p.pruneSafety());
            }
            out.printf(Locale.ROOT, "; canary %.0f%% of batches, promoted when within %.2f of the active accuracy over"
                    + " %d labelled predictions%n", 100 * p.canaryShare(), p.canaryMargin(), p.canarySamples());
            out.printf(Locale.ROOT, "streaming labelled test images at %d/s; every step is printed as it happens%n%n",
                    rate);
            out.flush();
        }
        controller.addDecisionListener(d -> say(out, t0, ">> " + d.line()));
        AtomicBoolean flowing = new AtomicBoolean(true);
        Thread traffic = new Thread(() -> stream(local, test, rate, flowing), "demo-traffic");
        traffic.setDaemon(true);
        traffic.start();
        try {
            String lastJobLine = null;
            long nextStatus = System.nanoTime();
            String promoted = null;
            String ending = null;
            while (ending == null) {
                Thread.sleep(1000);
                if (System.nanoTime() - t0 > duration.toNanos()) {
                    ending = "stopped after " + duration.toSeconds() + " s (--duration-s)";
                    break;
                }
                JobStatus j = controller.job();
                if (j != null && j.running()) {
                    String line = String.format(Locale.ROOT, "   %s %s %3.0f%%: %s", j.id(), j.phase(),
                            100 * j.progress(), j.detail());
                    if (!line.equals(lastJobLine)) {
                        say(out, t0, line);
                        lastJobLine = line;
                    }
                }
                RolloutState r = controller.rolloutState();
                if (r.version() != null && !r.version().equals(first) && !r.phase().inProgress()) {
                    if (r.phase() == RolloutPhase.PROMOTED) {
                        promoted = r.version();
                    } else {
                        ending = "the new version " + r.version() + " was not promoted (" + r.phase().id() + ")";
                    }
                }
                if (System.nanoTime() >= nextStatus) {
                    nextStatus = System.nanoTime() + (long) (p.windowS() * 1e9);
                    Views.Status s = controller.status();
                    say(out, t0, statusLine(s, p));
                    Views.Figures f = s.versions().get(s.activeVersion());
                    if (promoted != null && promoted.equals(s.activeVersion()) && f != null && f.p95Ms() != null
                            && f.predictions() >= p.minPredictions() && f.p95Ms() <= p.sloMs()) {
                        ending = String.format(Locale.ROOT, "latency back under the SLO: %s p95 %.0f ms <= %.0f ms",
                                promoted, f.p95Ms(), p.sloMs());
                    }
                }
            }
            say(out, t0, "== " + ending);
        } finally {
            flowing.set(false);
            traffic.join(5000);
        }
        ControlMessage c = controller.control();
        synchronized (out) {
            out.printf(Locale.ROOT, "%nfinal: active %s at %s; %d decisions (GET /decisions)%n",
                    c.activeVersion(), Policy.describe(c), controller.decisions().size());
            out.flush();
        }
    }

    private static String statusLine(Views.Status s, PolicySettings p) {
        List<String> parts = new ArrayList<>();
        parts.add(s.keepFloor() == null ? String.format(Locale.ROOT, "keep %.2f", s.keepRatio())
                : String.format(Locale.ROOT, "keep within [%.2f, %.2f]", s.keepFloor(), s.keepCeiling()));
        FleetLoad l = s.load();
        if (l != null && l.reporting() > 0) {
            parts.add(String.format(Locale.ROOT, "arrival %.0f/s, backlog %d, at the floor %s", l.arrivalPerS(),
                    l.backlog(), l.atFloorShare() == null ? "-" : String.format(Locale.ROOT, "%.0f%%",
                            100 * l.atFloorShare())));
        }
        s.versions().forEach((v, f) -> {
            String role = v.equals(s.activeVersion()) ? "active" : v.equals(s.canaryVersion()) ? "canary" : "old";
            parts.add(String.format(Locale.ROOT, "%s %s: %d predictions, p95 %s ms, accuracy %s", role, v,
                    f.predictions(), f.p95Ms() == null ? "-" : String.format(Locale.ROOT, "%.0f", f.p95Ms()),
                    f.accuracy() == null ? "-" : String.format(Locale.ROOT, "%.3f", f.accuracy())));
        });
        parts.add("policy " + s.policyState());
        return String.format(Locale.ROOT, "   [last %.0f s] ", p.windowS()) + String.join(" | ", parts);
    }

    private static void say(PrintWriter out, long t0, String line) {
        synchronized (out) {
            out.printf(Locale.ROOT, "%6.1fs %s%n", (System.nanoTime() - t0) / 1e9, line);
            out.flush();
        }
    }

    /** Labelled test images (PNG, {@code label} header) at {@code rate} per second, in ten bursts a second. */
    private static void stream(LocalServing local, LabeledImages test, int rate, AtomicBoolean flowing) {
        int burst = Math.max(1, rate / 10);
        try (KafkaProducer<String, byte[]> producer = local.producer()) {
            long next = System.nanoTime();
            for (int n = 0; flowing.get(); ) {
                for (int b = 0; b < burst; b++, n++) {
                    int idx = n % test.count();
                    RecordHeaders h = new RecordHeaders();
                    h.add(Topics.HEADER_LABEL, Labels.encode(test.labels()[idx]));
                    producer.send(new ProducerRecord<>(Topics.IMAGES, null, "loop-" + n, test.png(idx),
                            h));
                }
                producer.flush();
                next += 1_000_000_000L * burst / rate;
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
