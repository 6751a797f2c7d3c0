package io.vitstream.bench;

import static org.assertj.core.api.Assertions.assertThat;

import io.vitstream.cli.Main;
import io.vitstream.testing.TestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The README and the pages under docs/ as a reader meets them: every {@code ./vitstream ...} line in a fenced code
 * block parses with the launcher's own command line (parsing only: nothing is run), every relative link leads to a
 * file (and heading) that exists, and the README stays short.
 */
class DocumentedCommandsTest {
    private static final int README_MAX_LINES = 300;
    /** Written on another branch; linked to before it arrives. */
    private static final Set<String> EXPECTED_ELSEWHERE = Set.of("docs/bench-methods.md");

    private static final Pattern ENV_ASSIGNMENT = Pattern.compile("^[A-Z_][A-Z0-9_]*=\\S*\\s+");
    private static final Pattern LINK = Pattern.compile("\\]\\(([^)\\s]+)\\)");

    /** One command as documented: where it is, and its arguments after {@code ./vitstream}. */
    record Documented(String file, int line, String text, List<String> args) {}

    @Test
    void everyDocumentedCommandParses() throws IOException {
        List<Documented> commands = new ArrayList<>();
        for (Path page : pages()) {
            commands.addAll(commandsIn(page));
        }
        List<String> failures = new ArrayList<>();
        for (Documented c : commands) {
            try {
                Main.commandLine().parseArgs(c.args().toArray(String[]::new));
            } catch (CommandLine.ParameterException e) {
                failures.add(c.file() + ":" + c.line() + ": `" + c.text() + "`: " + Main.oneLine(e.getMessage()));
            }
        }
        // A broken extractor must not pass by finding nothing.
        assertThat(commands).as("documented ./vitstream commands").hasSizeGreaterThan(20);
        assertThat(commands.stream().map(c -> c.file()).distinct()).as("files with commands").contains("README.md");
        assertThat(failures).as("documented commands that do not parse").isEmpty();
    }

    @Test
    void readmeIsShort() throws IOException {
        List<String> lines = Files.readAllLines(TestData.repoRoot().resolve("README.md"));
        assertThat(lines.size()).as("README.md lines").isLessThan(README_MAX_LINES);
    }

    @Test
    void relativeLinksLeadToFilesAndHeadingsThatExist() throws IOException {
        Path root = TestData.repoRoot();
        List<String> broken = new ArrayList<>();
        for (Path page : pages()) {
            List<String> lines = Files.readAllLines(page);
            for (int i = 0; i < lines.size(); i++) {
                Matcher m = LINK.matcher(lines.get(i));
                while (m.find()) {
                    String target = m.group(1);
                    if (target.matches("^[a-z][a-z0-9+.-]*:.*")) {
                        continue; // http:, https:, mailto:
                    }
                    String file = target.contains("#") ? target.substring(0, target.indexOf('#')) : target;
                    String anchor = target.contains("#") ? target.substring(target.indexOf('#') + 1) : null;
                    Path resolved = file.isEmpty() ? page : page.getParent().resolve(file).normalize();
                    String relative = root.relativize(resolved).toString().replace('\\', '/');
                    String where = root.relativize(page) + ":" + (i + 1) + ": (" + target + ")";
                    if (EXPECTED_ELSEWHERE.contains(relative)) {
                        continue;
                    }
                    if (!Files.exists(resolved)) {
                        broken.add(where + " no such file " + relative);
                    } else if (anchor != null && relative.endsWith(".md") && !anchors(resolved).contains(anchor)) {
                        broken.add(where + " no heading #" + anchor + " in " + relative);
                    }
                }
            }
        }
        assertThat(broken).as("broken relative links").isEmpty();
    }

    @Test
    void extractionFollowsContinuationsAndDropsComments() throws IOException {
        Path page = Files.createTempFile("page", ".md");
        try {
            Files.writeString(page, String.join("\n", "text ./vitstream not-in-a-block", "```bash",
                    "./vitstream evaluate --model models/base \\", "    --keep-ratio 0.7   # a comment",
                    "$ VITSTREAM_LOG_LEVEL=info ./vitstream broker --nodes 3", "echo ./vitstream no", "```",
                    "./vitstream outside"));
            List<Documented> found = commandsIn(page);
            assertThat(found).extracting(Documented::args).containsExactly(
                    List.of("evaluate", "--model", "models/base", "--keep-ratio", "0.7"),
                    List.of("broker", "--nodes", "3"));
            assertThat(found.get(0).line()).isEqualTo(3);
            assertThat(anchors(page)).isEmpty();
        } finally {
            Files.delete(page);
        }
        assertThat(slug("The fast loop: a keep ratio per batch")).isEqualTo("the-fast-loop-a-keep-ratio-per-batch");
        assertThat(slug("Soak: `./vitstream bench soak`")).isEqualTo("soak-vitstream-bench-soak");
        assertThat(slug("`models/pruned-50` and the benchmark")).isEqualTo("modelspruned-50-and-the-benchmark");
    }

    /** README.md and every docs/*.md. */
    private static List<Path> pages() throws IOException {
        Path root = TestData.repoRoot();
        List<Path> pages = new ArrayList<>();
        pages.add(root.resolve("README.md"));
        try (Stream<Path> docs = Files.list(root.resolve("docs"))) {
            pages.addAll(docs.filter(p -> p.toString().endsWith(".md")).sorted().collect(Collectors.toList()));
        }
        return pages;
    }

    /** The {@code ./vitstream} lines inside fenced code blocks, continuations joined, comments dropped. */
    static List<Documented> commandsIn(Path page) throws IOException {
        List<String> lines = Files.readAllLines(page);
        String name = page.getFileName().toString();
        Path parent = page.getParent();
        if (parent != null && parent.getFileName() != null && parent.getFileName().toString().equals("docs")) {
            name = "docs/" + name;
        }
        List<Documented> found = new ArrayList<>();
        boolean inBlock = false;
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.startsWith("```")) {
                inBlock = !inBlock;
                continue;
            }
            if (!inBlock) {
                continue;
            }
            if (line.startsWith("$ ")) {
                line = line.substring(2).strip();
            }
            Matcher env = ENV_ASSIGNMENT.matcher(line);
            while (env.lookingAt()) {
                line = line.substring(env.end());
                env = ENV_ASSIGNMENT.matcher(line);
            }
            if (!line.startsWith("./vitstream ") && !line.equals("./vitstream")) {
                continue;
            }
            int start = i;
            StringBuilder text = new StringBuilder();
            String part = withoutComment(line);
            while (part.endsWith("\\") && i + 1 < lines.size()) {
                text.append(part, 0, part.length() - 1).append(' ');
                part = withoutComment(lines.get(++i).strip());
            }
            text.append(part);
            String command = text.toString().replaceAll("\\s+", " ").strip();
            List<String> words = words(command);
            found.add(new Documented(name, start + 1, command, words.subList(1, words.size())));
        }
        return found;
    }

    /** The line up to a {@code #} that starts a shell comment (after white space, outside quotes). */
    private static String withoutComment(String line) {
        char quote = 0;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quote != 0) {
                if (c == quote) {
                    quote = 0;
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (c == '#' && (i == 0 || Character.isWhitespace(line.charAt(i - 1)))) {
                return line.substring(0, i).strip();
            }
        }
        return line.strip();
    }

    /** Shell words: split at white space, single and double quotes grouping and removed. */
    private static List<String> words(String command) {
        List<String> words = new ArrayList<>();
        StringBuilder word = new StringBuilder();
        boolean inWord = false;
        char quote = 0;
        for (char c : command.toCharArray()) {
            if (quote != 0) {
                if (c == quote) {
                    quote = 0;
                } else {
                    word.append(c);
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
                inWord = true;
            } else if (Character.isWhitespace(c)) {
                if (inWord) {
                    words.add(word.toString());
                    word.setLength(0);
                    inWord = false;
                }
            } else {
                word.append(c);
                inWord = true;
            }
        }
        if (inWord) {
            words.add(word.toString());
        }
        return words;
    }

    /** The anchors GitHub gives a page's headings (outside code blocks). */
    private static Set<String> anchors(Path page) throws IOException {
        List<String> slugs = new ArrayList<>();
        boolean inBlock = false;
        for (String line : Files.readAllLines(page)) {
            if (line.strip().startsWith("```")) {
                inBlock = !inBlock;
            } else if (!inBlock && line.matches("^#{1,6} .*")) {
                String s = slug(line.replaceFirst("^#{1,6} ", ""));
                long seen = slugs.stream().filter(x -> x.equals(s) || x.matches(Pattern.quote(s) + "-\\d+")).count();
                slugs.add(seen == 0 ? s : s + "-" + seen);
            }
        }
        return Set.copyOf(slugs);
    }

    /** GitHub's heading anchor: lower case, punctuation but '-' and '_' dropped, spaces to '-'. */
    static String slug(String heading) {
        return heading.strip().toLowerCase(Locale.ROOT).replaceAll("[^\\p{L}\\p{N} _-]", "").replace(' ', '-');
    }
}
