import { count } from "../../util/plural.js";
import { writeJson, writeOut } from "../../util/log.js";
import { shellWord, show } from "../../util/printable.js";
import type { CommandSpec } from "../command.js";

export const verify: CommandSpec = {
  name: "verify",
  summary: "report every file of a container that differs from its image and base",
  define(command) {
    command.requiredOption("-c, --container <DIR>", "container directory").option("--json", "print the result as JSON");
  },
  async run(options, _args, { config }) {
    const { verifyContainer } = await import("../../container/index.js");
    const check = await verifyContainer(config, options.container as string);
    if (options.json) writeJson(check);
    else {
      if (check.movedFrom !== null) writeOut(`moved from ${show(check.movedFrom)}: its venv still names that path; fix: pypakr relocate -c ${shellWord(check.dir)}\n`);
      for (const difference of check.differences) writeOut(`${difference.change}: ${show(difference.path)}\n`);
      const moved = check.movedFrom !== null ? "moved, " : "";
      const found = check.differences.length;
      writeOut(`Checked ${count(check.checked, "entry", "entries")} of ${check.dir}: ${moved}${found === 0 ? `${moved ? "otherwise " : ""}as the image and base made it` : count(found, "difference")}\n`);
    }
    return check.differences.length > 0 || check.movedFrom !== null ? 1 : 0;
  },
};
