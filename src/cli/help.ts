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
