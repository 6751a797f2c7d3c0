package io.vitstream.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class CpuPlacementTest {
    @Test
    void jcmdThreadLinesOfJdk17AndLaterJdksParse() {
        CpuPlacement.JvmThread jdk17 = CpuPlacement.parseThreadLine("\"kafka-producer-network-thread | bench-producer\" #41 "
                + "daemon prio=5 os_prio=0 cpu=12.50ms elapsed=3.10s tid=0x00007f1c2c0b8800 nid=0x1a2b runnable  "
                + "[0x00007f1bf9dfe000]");
        assertThat(jdk17).isEqualTo(new CpuPlacement.JvmThread("kafka-producer-network-thread | bench-producer", 0x1a2b));
        CpuPlacement.JvmThread jdk21 = CpuPlacement.parseThreadLine("\"main\" #1 [6699] prio=5 os_prio=0 cpu=1.00ms "
                + "elapsed=2.00s tid=0x00007f00 nid=6699 waiting on condition  [0x00007f01]");
        assertThat(jdk21).isEqualTo(new CpuPlacement.JvmThread("main", 6699));
        assertThat(CpuPlacement.parseThreadLine("   java.lang.Thread.State: RUNNABLE")).isNull();
        assertThat(CpuPlacement.parseThreadLine("Full thread dump OpenJDK 64-Bit Server VM (17.0.15+6 mixed mode):"))
                .isNull();
    }

    @Test
    void cpuListsParseAndPrint() {
        assertThat(CpuPlacement.parseCpuList("0-3,8,10-11\n")).containsExactly(0, 1, 2, 3, 8, 10, 11);
        assertThat(CpuPlacement.cpuList(java.util.List.of(2, 3, 7))).isEqualTo("2,3,7");
    }

    @Test
    void aThreadPinsItselfAndItsChildrenInheritTheSet() throws Exception {
        CpuPlacement.check(); // Linux, taskset (util-linux) and jcmd (the JDK) are there
        String before = CpuPlacement.currentThreadCpus();
        String first = String.valueOf(CpuPlacement.parseCpuList(before).get(0)); // a CPU this test may use
        AtomicReference<String> own = new AtomicReference<>();
        AtomicReference<String> child = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        // A thread of its own, so that no other test's thread is pinned.
        java.lang.Thread t = new java.lang.Thread(() -> {
            try {
                CpuPlacement.pinCurrentThread(first);
                own.set(CpuPlacement.currentThreadCpus());
                java.lang.Thread c = new java.lang.Thread(() -> {
                    try {
                        child.set(CpuPlacement.currentThreadCpus());
                    } catch (Exception e) {
                        failure.set(e);
                    }
                });
                c.start();
                c.join();
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        t.start();
        t.join();
        assertThat(failure.get()).isNull();
        assertThat(own.get()).isEqualTo(first);
        assertThat(child.get()).isEqualTo(first);
        assertThat(CpuPlacement.currentThreadCpus()).as("the test's own thread is untouched").isEqualTo(before);
    }
}
