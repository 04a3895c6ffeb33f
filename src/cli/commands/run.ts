import type { CommandSpec } from "../command.js";

export const run: CommandSpec = {
  name: "run",
  summary: "run a script or command in a container's venv (working directory: the container)",
  ownsSignals: true,
  needsConfig: false,
  define(command) {
    command
      .requiredOption("-c, --container <DIR>", "container directory")
      .option("-r, --script <SCRIPT>", "script to run, relative to the container (default: the image's entry point, ./run)")
      .argument("[args...]", "arguments for the script; without -r, a command to run (after --)")
      .passThroughOptions();
  },
  async run(options, args) {
    const { runInContainer } = await import("../../run/run.js");
    return runInContainer({ container: options.container as string, ...(options.script ? { script: options.script as string } : {}), args });
  },
};
