package io.vitstream.cli;

import java.util.List;
import java.util.stream.Collectors;
import picocli.CommandLine.Model.CommandSpec;

/** The command line a model was made with, as recorded in its manifest: every argument as given, nothing rebuilt. */
final class Invocation {
    private Invocation() {}

    /** {@code vitstream} and the original arguments of this run, quoted for a POSIX shell where needed. */
    static String of(CommandSpec spec) {
        List<String> args = spec.root().commandLine().getParseResult().originalArgs();
        return "vitstream " + args.stream().map(Invocation::quote).collect(Collectors.joining(" "));
    }

    static String quote(String arg) {
        return arg.matches("[A-Za-z0-9_./:=,@%+-]+") ? arg : "'" + arg.replace("'", "'\\''") + "'";
    }
}
