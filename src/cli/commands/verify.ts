import { count } from "../../util/plural.js";
import { shellWord, show } from "../../util/printable.js";
import type { ContainerCheck } from "../../container/index.js";
import { defineCommand } from "../command.js";
import { FLAGS, json, required } from "../options.js";
import { report } from "../output.js";

function describe(check: ContainerCheck): string {
  const lines = check.movedFrom !== null ? [`moved from ${show(check.movedFrom)}: its venv still names that path; fix: pypakr relocate -c ${shellWord(check.dir)}\n`] : [];
  for (const difference of check.differences) lines.push(`${difference.change}: ${show(difference.path)}\n`);
  const moved = check.movedFrom !== null ? "moved, " : "";
  const found = check.differences.length;
  lines.push(`Checked ${count(check.checked, "entry", "entries")} of ${check.dir}: ${moved}${found === 0 ? `${moved ? "otherwise " : ""}as the image and base made it` : count(found, "difference")}\n`);
  return lines.join("");
}

export const verify = defineCommand("verify", "report every file of a container that differs from its image and base", {
  options: { container: required(FLAGS.container, "container directory"), json: json() },
  async run(options, _args, { config }) {
    const { verifyContainer } = await import("../../container/index.js");
    const check = await verifyContainer(config, options.container);
    report(check, options, { text: describe });
    return check.differences.length > 0 || check.movedFrom !== null ? 1 : 0;
  },
});
