package io.vitstream.bench;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * CPU time of this process's threads, summed by thread name, read from Linux's {@code /proc/self/task}. Native
 * threads inherit their creator's name, so PyTorch's intra-op pool counts with the Java thread that runs the model.
 * Empty where {@code /proc} is absent: benchmarks then print no breakdown.
 */
final class ThreadCpu {
    private static final Path TASKS = Path.of("/proc/self/task");
    /** Linux reports thread times in clock ticks of 1/100 s on every platform the JDK supports. */
    private static final double TICK_SECONDS = 0.01;

    private ThreadCpu() {}

    /** Seconds of CPU (user + system) per thread name; names are grouped where they end in a number. */
    static Map<String, Double> byName() {
        Map<String, Double> out = new TreeMap<>();
        if (!Files.isDirectory(TASKS)) {
            return out;
        }
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(TASKS)) {
            for (Path task : tasks) {
                try {
                    String stat = Files.readString(task.resolve("stat"));
                    // "tid (comm) state ..." where comm may itself hold spaces and parentheses: split at the last ')'.
                    int close = stat.lastIndexOf(')');
                    String name = stat.substring(stat.indexOf('(') + 1, close);
                    String[] f = stat.substring(close + 2).split(" ");
                    double seconds = (Long.parseLong(f[11]) + Long.parseLong(f[12])) * TICK_SECONDS;
                    out.merge(group(name), seconds, Double::sum);
                } catch (IOException | RuntimeException e) {
                    // The thread ended while being read: its time is gone from both snapshots alike.
                }
            }
        } catch (IOException e) {
            return new TreeMap<>();
        }
        return out;
    }

    /** "C2 CompilerThre", "GC Thread#3", "kafka-producer-network-thread | x" -> a few stable groups. */
    static String group(String name) {
        if (name.startsWith("C1 Compiler") || name.startsWith("C2 Compiler")) {
            return "JIT compiler";
        }
        if (name.startsWith("GC ") || name.startsWith("G1 ") || name.equals("VM Thread")) {
            return "GC and VM";
        }
        if (name.startsWith("inference-lane")) {
            return "inference lanes"; // Linux keeps 15 characters of a thread's name: the worker id is cut off
        }
        if (name.startsWith("kafka-producer")) {
            return "Kafka producer I/O";
        }
        return name.replaceAll("[-#]?\\d+$", "");
    }

    /** {@code after - before}, per name, leaving out names under {@code minSeconds}. */
    static Map<String, Double> since(Map<String, Double> before, Map<String, Double> after, double minSeconds) {
        Map<String, Double> out = new TreeMap<>();
        after.forEach((k, v) -> {
            double d = v - before.getOrDefault(k, 0.0);
            if (d >= minSeconds) {
                out.put(k, d);
            }
        });
        return out;
    }
}
