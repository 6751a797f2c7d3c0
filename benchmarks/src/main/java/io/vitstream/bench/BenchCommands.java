package io.vitstream.bench;

import io.vitstream.cli.CommandExtension;

/** Adds {@code ./vitstream bench} to the launcher (registered in META-INF/services). */
public final class BenchCommands implements CommandExtension {
    @Override
    public String name() {
        return "bench";
    }

    @Override
    public Object command() {
        return new BenchCommand();
    }
}
