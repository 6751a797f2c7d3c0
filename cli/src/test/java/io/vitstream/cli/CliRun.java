package io.vitstream.cli;

import java.io.PrintWriter;
import java.io.StringWriter;

/** One in-process CLI invocation with its exit code and captured output, for tests. */
public record CliRun(int code, String out, String err) {
    public static CliRun of(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new CliRun(code, out.toString(), err.toString());
    }
}
