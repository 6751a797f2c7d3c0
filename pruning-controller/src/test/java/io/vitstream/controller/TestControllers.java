package io.vitstream.controller;

import io.vitstream.signing.ModelSigning;
import io.vitstream.testkit.TestBroker;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Settings shared by controller tests: a real broker, a token, a free local port, the key pair under keys/. */
final class TestControllers {
    private TestControllers() {}

    /**
     * @param keysDir holds the key pair written by {@link ModelSigning#writeKeyPair}
     * @param workDir the controller's work directory
     */
    static Map<String, String> settings(TestBroker broker, String token, Path keysDir, Path workDir) {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("bootstrap.servers", broker.bootstrapServers());
        s.put("admin.token", token);
        s.put("admin.port", "0");
        s.put("admin.host", "127.0.0.1");
        s.put("signing.private.key", keysDir.resolve(ModelSigning.PRIVATE_KEY_FILE).toString());
        s.put("signing.public.key", keysDir.resolve(ModelSigning.PUBLIC_KEY_FILE).toString());
        s.put("work.dir", workDir.toString());
        return s;
    }
}
