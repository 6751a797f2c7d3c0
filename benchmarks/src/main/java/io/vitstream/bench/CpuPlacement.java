package io.vitstream.bench;

import io.vitstream.util.UserError;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Pins threads and processes to CPU sets for benchmarks (Linux: {@code taskset} from util-linux, {@code jcmd} from the
 * JDK for this JVM's thread ids). Lets one machine imitate two: the worker on some cores, the broker and the load
 * generator on the others. Never used by the services themselves.
 */
final class CpuPlacement {
    /** {@code "name" #12 ... nid=0x1a2b} (JDK 17, hex) or {@code nid=6699} (later JDKs, decimal). */
    private static final Pattern THREAD_LINE = Pattern.compile("^\"(.*)\" .*\\bnid=(0x[0-9a-fA-F]+|\\d+)");

    private CpuPlacement() {}

    /** Fails with one line when this machine cannot pin (not Linux, no taskset, no jcmd). */
    static void check() {
        if (!Files.isDirectory(Path.of("/proc/self/task"))) {
            throw new UserError("--placement split needs Linux (/proc and taskset)");
        }
        run(List.of("taskset", "-p", String.valueOf(ProcessHandle.current().pid())));
        jcmd();
    }

    /** CPU numbers of a Linux CPU list ("0-3,8,10-11"), in order. */
    static List<Integer> parseCpuList(String list) {
        List<Integer> out = new ArrayList<>();
        for (String part : list.trim().split(",")) {
            String[] range = part.trim().split("-");
            int from = Integer.parseInt(range[0]);
            int to = range.length > 1 ? Integer.parseInt(range[1]) : from;
            for (int c = from; c <= to; c++) {
                out.add(c);
            }
        }
        return out;
    }

    /** A CPU list naming exactly {@code cpus}. */
    static String cpuList(List<Integer> cpus) {
        return String.join(",", cpus.stream().map(String::valueOf).toList());
    }

    /** Every thread of process {@code pid}, now, on {@code cpus}. */
    static void pinProcess(long pid, String cpus) {
        run(List.of("taskset", "-a", "-p", "-c", cpus, String.valueOf(pid)));
    }

    /** The calling thread on {@code cpus}. */
    static void pinCurrentThread(String cpus) {
        try {
            // /proc/thread-self links to /proc/<pid>/task/<tid> of the thread that reads it.
            String tid = Files.readSymbolicLink(Path.of("/proc/thread-self")).getFileName().toString();
            pin(Long.parseLong(tid), cpus);
        } catch (IOException e) {
            throw new UserError("cannot read this thread's id from /proc/thread-self: " + e.getMessage());
        }
    }

    /**
     * This JVM's threads: those whose Java name matches {@code harness} on {@code harnessCpus}, all others (the
     * worker's, the JIT's, the GC's) on {@code otherCpus}. Returns how many threads were placed on each.
     */
    static int[] pinThisJvm(Predicate<String> harness, String harnessCpus, String otherCpus) {
        int[] placed = new int[2];
        for (String line : jcmd()) {
            JvmThread t = parseThreadLine(line);
            if (t == null) {
                continue;
            }
            long tid = t.tid();
            boolean isHarness = harness.test(t.name());
            try {
                pin(tid, isHarness ? harnessCpus : otherCpus);
                placed[isHarness ? 0 : 1]++;
            } catch (UserError e) {
                if (Files.exists(Path.of("/proc/self/task", String.valueOf(tid)))) {
                    throw e; // a live thread that cannot be placed: the measurement would not be what it says
                }
                // The thread ended between the listing and taskset: nothing to place.
            }
        }
        // Threads jcmd does not list (PyTorch's, started by a lane) inherit their creator's set when created later.
        return placed;
    }

    /** A thread of a {@code jcmd Thread.print} listing: its Java name and Linux thread id. */
    record JvmThread(String name, long tid) {}

    /** The thread a {@code jcmd Thread.print} line starts, or null for any other line. */
    static JvmThread parseThreadLine(String line) {
        Matcher m = THREAD_LINE.matcher(line);
        if (!m.find()) {
            return null;
        }
        String nid = m.group(2);
        long tid = nid.startsWith("0x") ? Long.parseLong(nid.substring(2), 16) : Long.parseLong(nid);
        return new JvmThread(m.group(1), tid);
    }

    /** The CPU list the calling thread may run on, as Linux prints it ("0", "0-1"). */
    static String currentThreadCpus() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/thread-self/status"))) {
            if (line.startsWith("Cpus_allowed_list:")) {
                return line.substring(line.indexOf(':') + 1).trim();
            }
        }
        throw new IOException("no Cpus_allowed_list in /proc/thread-self/status");
    }

    private static void pin(long tid, String cpus) {
        run(List.of("taskset", "-p", "-c", cpus, String.valueOf(tid)));
    }

    private static List<String> jcmd() {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        String cmd = Files.isExecutable(jcmd) ? jcmd.toString() : "jcmd";
        return List.of(run(List.of(cmd, String.valueOf(ProcessHandle.current().pid()), "Thread.print")).split("\n"));
    }

    private static String run(List<String> command) {
        try {
            Process p = new ProcessBuilder(new ArrayList<>(command)).redirectErrorStream(true).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new UserError(String.join(" ", command) + " did not finish in 30 s");
            }
            String text = new String(out, StandardCharsets.UTF_8);
            if (p.exitValue() != 0) {
                throw new UserError(String.join(" ", command) + " failed (exit " + p.exitValue() + "): "
                        + text.strip().lines().findFirst().orElse(""));
            }
            return text;
        } catch (IOException e) {
            throw new UserError("cannot run " + command.get(0) + " (needed for --placement split): " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UserError("interrupted while running " + command.get(0));
        }
    }
}
