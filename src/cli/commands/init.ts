import { defineCommand } from "../command.js";
import { FLAGS, flag, json, text } from "../options.js";
import { report } from "../output.js";

export const init = defineCommand("init", "make the base venv for a Python interpreter (harmless to repeat)", {
  options: {
    python: text(FLAGS.python, "interpreter to make the base for (default: PYPAKR_PYTHON, the config's python, or python3)"),
    force: flag("--force", "remake the base even if it exists"),
    json: json(),
  },
  async run(options, _args, { config }) {
    const { findInterpreter, describeInterpreter } = await import("../../python/index.js");
    const { initBase } = await import("../../base/index.js");
    const { base, created } = await initBase(config, await findInterpreter(options.python ?? config.python), { force: options.force });
    report(base, options, {
      json: ({ kind, dir, python, manifestDigest }) => ({ kind, dir, created, python, manifestDigest }),
      text: ({ kind, dir, python }) => `${created ? "Created" : "Already there:"} base ${kind} (${describeInterpreter(python)}) at ${dir}\n`,
    });
  },
});
