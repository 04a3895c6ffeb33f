import { writeJson, writeOut } from "../../util/log.js";
import type { CommandSpec } from "../command.js";

export const init: CommandSpec = {
  name: "init",
  summary: "make the base venv for a Python interpreter (harmless to repeat)",
  define(command) {
    command
      .option("--python <PATH>", "interpreter to make the base for (default: PYPAKR_PYTHON, the config's python, or python3)")
      .option("--force", "remake the base even if it exists")
      .option("--json", "print the result as JSON");
  },
  async run(options, _args, { config }) {
    const { findInterpreter, describeInterpreter } = await import("../../python/index.js");
    const { initBase } = await import("../../base/index.js");
    const interpreter = await findInterpreter((options.python as string | undefined) ?? config.python);
    const { base, created } = await initBase(config, interpreter, { force: Boolean(options.force) });
    if (options.json) {
      writeJson({ kind: base.kind, dir: base.dir, created, python: base.python, manifestDigest: base.manifestDigest });
    } else {
      writeOut(`${created ? "Created" : "Already there:"} base ${base.kind} (${describeInterpreter(base.python)}) at ${base.dir}\n`);
    }
  },
};
