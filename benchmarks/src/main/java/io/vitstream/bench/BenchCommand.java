package io.vitstream.bench;

import picocli.CommandLine.Command;
import picocli.CommandLine;

/** {@code vitstream bench}: benchmarks that print tables. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmarks (tables on stdout). Speed is measured here, never in tests.",
        subcommands = {BenchModelCommand.class, BenchSparsityCommand.class, BenchPruneCommand.class, BenchMethodsCommand.class,
                BenchServeCommand.class,
                BenchAdaptCommand.class, BenchSoakCommand.class})
public final class BenchCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
