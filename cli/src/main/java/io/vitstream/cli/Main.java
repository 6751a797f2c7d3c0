package io.vitstream.cli;

import io.vitstream.util.UserError;
import java.io.PrintWriter;
import java.util.ServiceLoader;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of {@code ./vitstream}: one subcommand per job. */
@Command(
        name = "vitstream",
        mixinStandardHelpOptions = true,
        version = "vitstream 0.1.0",
        description = "Adaptive Vision Transformer inference on Kafka: train, evaluate and benchmark ViTs.",
        subcommands = {
            DemoCommand.class,
            TrainCommand.class,
            TrainSparseCommand.class,
            EvaluateCommand.class,
            ExportOnnxCommand.class,
            WorkerCommand.class, ControllerCommand.class, PruneCommand.class, ProduceCommand.class, PublishModelCommand.class, KeygenCommand.class, BrokerCommand.class,
            CommandLine.HelpCommand.class
        })
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns the exit code. */
    public static int run(String... args) {
        return commandLine().execute(args);
    }

    /** Runs the CLI with the given output streams (tests call this) and returns the exit code. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cl = commandLine();
        cl.setOut(out);
        cl.setErr(err);
        return cl.execute(args);
    }

    /** The launcher's command line: the CLI's own subcommands and every {@link CommandExtension} on the class path. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        for (CommandExtension e : ServiceLoader.load(CommandExtension.class, Main.class.getClassLoader())) {
            cl.addSubcommand(e.name(), e.command());
        }
        if (!cl.getSubcommands().containsKey("bench")) {
            cl.addSubcommand("bench", new NoBenchmarks());
        }
        cl.setExecutionExceptionHandler(Main::handle);
        cl.setParameterExceptionHandler(Main::handleParameter);
        // The descriptions are written as lines of up to about 110 characters; picocli's default of 80 re-wraps
        // them mid-sentence.
        cl.setUsageHelpWidth(120);
        return cl;
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** {@code bench} where the benchmarks module is not on the class path (the service image): one clear line. */
    @Command(name = "bench", description = "Benchmarks: not in this build (they ship with the benchmarks module, which"
            + " ./vitstream in a source checkout runs).")
    static final class NoBenchmarks implements Runnable {
        @CommandLine.Unmatched
        java.util.List<String> ignored;

        @Override
        public void run() {
            throw new UserError("the benchmarks are not in this build: run them from a source checkout with"
                    + " ./vitstream bench (the benchmarks module); the service image ships without them");
        }
    }

    /** User errors print one line and exit 2; anything else is a bug and keeps its stack trace (exit 1). */
    private static int handle(Exception e, CommandLine cl, CommandLine.ParseResult parsed) {
        PrintWriter err = cl.getErr();
        if (e instanceof UserError || e instanceof IllegalArgumentException) {
            err.println("error: " + oneLine(e.getMessage()));
            err.flush();
            return 2;
        }
        e.printStackTrace(err);
        err.flush();
        return 1;
    }

    private static int handleParameter(CommandLine.ParameterException e, String[] args) {
        CommandLine cl = e.getCommandLine();
        PrintWriter err = cl.getErr();
        err.println("error: " + oneLine(e.getMessage()) + " (see `vitstream " + cl.getCommandName()
                + " --help`)".replace("vitstream vitstream", "vitstream"));
        err.flush();
        return 2;
    }

    public static String oneLine(String s) {
        if (s == null) {
            return "unknown error";
        }
        return s.replace('\n', ' ').replace('\r', ' ').trim();
    }
}
