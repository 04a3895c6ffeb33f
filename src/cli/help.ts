import type { Command, Option } from "commander";

function optionLine(option: Option): string {
  return `         ${option.flags.padEnd(26)} ${option.description}`;
}

/**
 * The overview `pypakr` and `pypakr help` print: every command with its
 * options, in the shape of the original's help, then the config file.
 */
export function overview(program: Command, configFile: string): string {
  const lines = ["pypakr", "Python containers: small OCI images of a venv, turned into relocated, runnable venvs", "Usage:", "pypakr <command> <parameters>", "  - Commands:"];
  for (const command of program.commands) {
    if (command.name() === "help") continue;
    lines.push(`    - ${command.name().padEnd(17)} - ${command.description()}`);
    const args = command.registeredArguments.map((arg) => (arg.required ? `<${arg.name()}>` : `[${arg.name()}${arg.variadic ? "..." : ""}]`));
    if (args.length > 0) lines.push(`       - Arguments: ${args.join(" ")}`);
    // --debug and -q are listed once, under the global options.
    const options = command.options.filter((option) => !["--help", "--debug", "--quiet"].includes(option.long ?? ""));
    if (options.length > 0) {
      lines.push("       - Options:");
      lines.push(...options.map(optionLine));
    }
  }
  lines.push("    - help [command]    - this help, or one command's");
  lines.push("", "Global options:", ...program.options.map(optionLine));
  lines.push(
    "",
    `Configuration is in file ~/.pypakr (here: ${configFile}); all keys are optional:`,
    "[Global]",
    "base = /home/george/pypakr/BASE        # directory holding one base venv per interpreter",
    "pypakrdir = /home/george/pypakr        # pypakr's own files (bases, temporary builds)",
    "python = python3.11                    # interpreter used when --python is not given",
    "",
    "Environment: PYPAKR_CONFIG (config file), PYPAKR_HOME (overrides pypakrdir and base),",
    "PYPAKR_PYTHON (interpreter). Without a config file pypakr uses",
    "$XDG_DATA_HOME/pypakr (~/.local/share/pypakr).",
    "",
    "Quick start:",
    "  pypakr create-image -s CUSTOM.tar -i IMAGE.tar",
    "  pypakr create-container -i IMAGE.tar -c CONT",
    "  pypakr run -c CONT -r ./run",
  );
  return lines.join("\n") + "\n";
}

/** Edit distance counting a swap of two neighbours as one edit (Damerau), as commander's own suggestion does. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = d[i] as number[];
      const above = d[i - 1] as number[];
      row[j] = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/**
 * "\n(Did you mean X?)" for the closest names, in commander's words (so
 * `pypakr help creat-image` reads like `pypakr creat-image`), or "" when
 * nothing is close: at most a third of the word's letters wrong.
 */
export function didYouMean(word: string, names: string[]): string {
  const limit = Math.max(1, Math.floor(word.length / 3));
  const scored = names.map((name) => ({ name, distance: editDistance(word, name) })).filter((entry) => entry.distance <= limit);
  if (scored.length === 0) return "";
  const best = Math.min(...scored.map((entry) => entry.distance));
  const closest = scored.filter((entry) => entry.distance === best).map((entry) => entry.name);
  return `\n(Did you mean ${closest.length === 1 ? closest[0] : `one of ${closest.join(", ")}`}?)`;
}
