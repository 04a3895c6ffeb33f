import type { CommandSpec } from "../command.js";

export const inspect: CommandSpec = {
  name: "inspect",
  summary: "show what an image holds and needs",
  define(command) {
    command.argument("<IMAGE.tar>", "image file").option("--json", "print the manifest and config as JSON");
  },
  async run(options, args, { config }) {
    const { inspectImage, formatInspection } = await import("../../image/inspect.js");
    const { tmpDir } = await import("../../config/config.js");
    const inspection = await inspectImage(args[0] ?? "", tmpDir(config));
    process.stdout.write(options.json ? JSON.stringify(inspection, null, 2) + "\n" : formatInspection(inspection));
  },
};
