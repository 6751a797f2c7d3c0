package io.vitstream.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.engine.EngineKind;
import io.vitstream.util.UserError;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WorkerConfigTest {
    @TempDir
    Path tmp;

    @Test
    void defaultsAndKafkaPassThrough() throws Exception {
        Path key = Files.writeString(tmp.resolve("k.pub"), "x");
        WorkerConfig c = WorkerConfig.parse(Map.of("bootstrap.servers", "h:9092", "model.public.key", key.toString(),
                "kafka.security.protocol", "SSL", "batch.max.size", "16"));
        assertThat(c.batchMaxSize()).isEqualTo(16);
        assertThat(c.batchMaxWaitMs()).isEqualTo(5);
        assertThat(c.inputMaxBytes()).isEqualTo(10L * 1024 * 1024);
        assertThat(c.inferenceLanes()).isZero(); // one per core
        assertThat(c.inferenceThreads()).isZero(); // cores / lanes
        assertThat(c.groupId()).isEqualTo("vitstream-workers");
        assertThat(c.kafka()).containsEntry("security.protocol", "SSL");
        assertThat(c.workerId()).isNotBlank();
    }

    @Test
    void theTokenReducerIsAutoByDefaultAndABadOneIsNamed() throws Exception {
        Path key = Files.writeString(tmp.resolve("k.pub"), "x");
        Map<String, String> base = Map.of("bootstrap.servers", "h:9092", "model.public.key", key.toString());
        assertThat(WorkerConfig.parse(base).tokenReducer()).as("auto").isNull();
        java.util.Map<String, String> tome = new java.util.HashMap<>(base);
        tome.put("token.reducer", "tome");
        assertThat(WorkerConfig.parse(tome).tokenReducer()).isEqualTo(io.vitstream.model.KeepPolicy.Method.TOME);
        java.util.Map<String, String> bad = new java.util.HashMap<>(base);
        bad.put("token.reducer", "merge");
        assertThatThrownBy(() -> WorkerConfig.parse(bad)).isInstanceOf(UserError.class)
                .hasMessageContaining("token.reducer must be auto, learned, cls-attention, tome or grid-merge, got "
                        + "'merge'");
    }

    @Test
    void deviceIsDjlsDefaultUnlessForcedAndAnUnseenGpuIsRefused() throws Exception {
        Path key = Files.writeString(tmp.resolve("k.pub"), "x");
        Map<String, String> base = Map.of("bootstrap.servers", "h:9092", "model.public.key", key.toString());
        assertThat(WorkerConfig.parse(base).device()).isNull();
        assertThat(WorkerConfig.parseDevice("CPU")).isEqualTo(ai.djl.Device.cpu());
        assertThat(WorkerConfig.parseDevice("gpu")).isEqualTo(ai.djl.Device.gpu(0));
        assertThat(WorkerConfig.parseDevice("gpu:3")).isEqualTo(ai.djl.Device.gpu(3));
        java.util.Map<String, String> bad = new java.util.HashMap<>(base);
        bad.put("device", "tpu");
        assertThatThrownBy(() -> WorkerConfig.parse(bad)).isInstanceOf(UserError.class)
                .hasMessageContaining("device must be auto, cpu, gpu or gpu:N, got 'tpu'");

        // auto resolves to what the engine reports; cpu is always there; a GPU index past the engine's count is
        // refused with one line (on this CPU-only build every GPU index is).
        ai.djl.engine.Engine engine = ai.djl.engine.Engine.getInstance();
        assertThat(InferenceWorker.checkDevice(null)).isEqualTo(engine.defaultDevice());
        assertThat(InferenceWorker.checkDevice(ai.djl.Device.cpu())).isEqualTo(ai.djl.Device.cpu());
        ai.djl.Device unseen = ai.djl.Device.gpu(engine.getGpuCount());
        assertThatThrownBy(() -> InferenceWorker.checkDevice(unseen)).isInstanceOf(UserError.class)
                .hasMessageContaining("is not available")
                .hasMessageContaining("sees " + engine.getGpuCount() + " GPU(s)");
    }

    @Test
    void engineIsOnnxRuntimeByDefaultWithThreadsSharedOutAndABadValueIsNamed() throws Exception {
        Path key = Files.writeString(tmp.resolve("k.pub"), "x");
        Map<String, String> base = Map.of("bootstrap.servers", "h:9092", "model.public.key", key.toString());
        WorkerConfig c = WorkerConfig.parse(base);
        assertThat(c.engine()).isEqualTo(EngineKind.AUTO);
        assertThat(c.engineOptions().kind().resolve()).isEqualTo(EngineKind.ONNXRUNTIME);
        assertThat(c.engineOptions().threads()).isEqualTo(1); // one lane per core, one thread each
        assertThat(c.onnxDevice()).isEqualTo(ai.djl.Device.cpu());
        Map<String, String> two = new java.util.HashMap<>(base);
        two.put("inference.lanes", "1");
        assertThat(WorkerConfig.parse(two).engineOptions().threads())
                .isEqualTo(Runtime.getRuntime().availableProcessors());
        two.put("engine", "pytorch");
        assertThat(WorkerConfig.parse(two).engineOptions().kind()).isEqualTo(EngineKind.PYTORCH);
        Map<String, String> bad = new java.util.HashMap<>(base);
        bad.put("engine", "tensorrt");
        assertThatThrownBy(() -> WorkerConfig.parse(bad)).isInstanceOf(UserError.class)
                .hasMessageContaining("engine must be auto, onnxruntime or pytorch, got 'tensorrt'");
    }

    @Test
    void kafkaSettingsThatWouldBreakExactlyOnceAreRefused() throws Exception {
        Path key = Files.writeString(tmp.resolve("k.pub"), "x");
        for (String owned : WorkerConfig.EXACTLY_ONCE_SETTINGS) {
            Map<String, String> s = Map.of("bootstrap.servers", "h:9092", "model.public.key", key.toString(),
                    "kafka." + owned, "x");
            assertThatThrownBy(() -> WorkerConfig.parse(s)).as(owned).isInstanceOf(UserError.class)
                    .hasMessageContaining("kafka." + owned + " cannot be set");
        }
    }

    @Test
    void theDefaultWorkerIdIsTheHostPlusTheLowestFreeIndexAndComesBackAfterTheHolderDies() throws Exception {
        Path locks = tmp.resolve("ids");
        int first = WorkerIndex.claim("h", locks);
        int second = WorkerIndex.claim("h", locks);
        assertThat(first).isZero();
        assertThat(second).isEqualTo(1);
        // A second process on the same host takes the next index while both live, and 0 once a holder is gone
        // (a SIGKILL releases the lock with the process).
        Process other = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), WorkerIndexMain.class.getName(), locks.toString())
                .redirectErrorStream(true).start();
        String line = new String(other.getInputStream().readNBytes(2), java.nio.charset.StandardCharsets.US_ASCII);
        assertThat(line.trim()).isEqualTo("2");
        other.destroyForcibly().waitFor();
        Process again = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), WorkerIndexMain.class.getName(), locks.toString())
                .redirectErrorStream(true).start();
        String line2 = new String(again.getInputStream().readNBytes(2), java.nio.charset.StandardCharsets.US_ASCII);
        assertThat(line2.trim()).isEqualTo("2");
        again.destroyForcibly().waitFor();
        Path key = Files.writeString(tmp.resolve("k.pub"), "x");
        String id = WorkerConfig.parse(Map.of("bootstrap.servers", "h:9092", "model.public.key", key.toString()))
                .workerId();
        assertThat(id).matches("[A-Za-z0-9._-]+-\\d+");
    }

    @Test
    void environmentNamesMapToSettings() {
        assertThat(WorkerConfig.fromEnvironment(Map.of("KAFKA_BOOTSTRAP_SERVERS", "b:1", "VITSTREAM_BATCH_MAX_SIZE",
                "8", "VITSTREAM_KAFKA_SASL_MECHANISM", "PLAIN", "VITSTREAM_JAVA_OPTS", "-Xmx1g", "PATH", "/bin",
                "VITSTREAM_CONTROLLER_ADMIN_TOKEN", "the controller's, in a shared environment")))
                .containsExactlyInAnyOrderEntriesOf(Map.of("bootstrap.servers", "b:1", "batch.max.size", "8",
                        "kafka.sasl.mechanism", "PLAIN"));
    }

    @Test
    void everyInvalidSettingIsNamedInOneError() {
        assertThatThrownBy(() -> WorkerConfig.parse(Map.of("batch.max.size", "0", "batch.max.wait.ms", "soon",
                "model.dir", tmp.resolve("missing").toString(), "http.port", "70000", "worker.id", "a b",
                "batch.size", "3", "inference.threads", "-1")))
                .isInstanceOf(UserError.class)
                .hasMessageStartingWith("invalid worker configuration: ")
                .hasMessageContaining("bootstrap.servers is required")
                .hasMessageContaining("batch.max.size must be between 1 and 4096, got 0")
                .hasMessageContaining("batch.max.wait.ms must be an integer, got 'soon'")
                .hasMessageContaining("model.dir: " + tmp.resolve("missing") + " does not exist")
                .hasMessageContaining("http.port must be between -1 and 65535")
                .hasMessageContaining("worker.id must be")
                .hasMessageContaining("unknown setting batch.size")
                .hasMessageContaining("inference.threads must be between 0 and 1024, got -1")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
    }

    @Test
    void teacherSamplingIsOffByDefaultAndItsShareIsValidated() throws Exception {
        Path key = Files.writeString(tmp.resolve("k.pub"), "x");
        Path teacher = Files.createDirectories(tmp.resolve("teacher"));
        Map<String, String> base = Map.of("bootstrap.servers", "h:9092", "model.public.key", key.toString());
        WorkerConfig off = WorkerConfig.parse(base);
        assertThat(off.teacherSampleShare()).isZero();
        assertThat(off.teacherModelDir()).isNull();

        Map<String, String> on = new java.util.HashMap<>(base);
        on.put("teacher.model.dir", teacher.toString());
        on.put("teacher.sample.share", "0.25");
        assertThat(WorkerConfig.parse(on).teacherSampleShare()).isEqualTo(0.25);
        assertThat(WorkerConfig.parse(on).teacherModelDir()).isEqualTo(teacher);

        for (String bad : new String[] {"1.5", "-0.1", "NaN", "half"}) {
            on.put("teacher.sample.share", bad);
            assertThatThrownBy(() -> WorkerConfig.parse(on)).isInstanceOf(UserError.class)
                    .hasMessage("invalid worker configuration: teacher.sample.share must be a number between 0 and 1,"
                            + " got '" + bad + "'");
        }
        Map<String, String> noTeacher = new java.util.HashMap<>(base);
        noTeacher.put("teacher.sample.share", "1");
        assertThatThrownBy(() -> WorkerConfig.parse(noTeacher)).isInstanceOf(UserError.class)
                .hasMessageContaining("teacher.sample.share is 1.0 but no teacher.model.dir");
    }
}
