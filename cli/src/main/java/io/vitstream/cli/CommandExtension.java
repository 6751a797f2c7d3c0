package io.vitstream.cli;

import picocli.CommandLine;

/**
 * Subcommands that live outside the CLI module and join {@code ./vitstream} when their jar is on the class path
 * (found through {@link java.util.ServiceLoader}): the benchmarks ({@code benchmarks/}), which the service image does
 * not ship.
 */
public interface CommandExtension {
    /** The subcommand's name ({@code bench}). */
    String name();

    /** The picocli command object ({@code @Command}-annotated) to add under {@link #name()}. */
    Object command();
}
