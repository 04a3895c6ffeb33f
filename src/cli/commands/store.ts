import { count } from "../../util/plural.js";
import { writeJson, writeOut } from "../../util/log.js";
import type { CommandSpec } from "../command.js";

export const store: CommandSpec = {
  name: "store",
  summary: "check the store: `pypakr store verify [--repair]` re-hashes every blob and checks every image",
  define(command) {
    command
      .argument("<ACTION>", "verify")
      .option("--repair", "remove what is damaged so the store is consistent (damaged images must be loaded or built again)")
      .option("--json", "print the result as JSON");
  },
  async run(options, args, { config }) {
    const { usageError } = await import("../../util/errors.js");
    if (args[0] !== "verify") throw usageError("usage", `unknown store action "${args[0] ?? ""}"`, "The store action is: pypakr store verify [--repair]");
    const { Store } = await import("../../store/index.js");
    const { verifyStore } = await import("../../store/index.js");
    const result = await verifyStore(await Store.open(config), { repair: Boolean(options.repair) });
    if (options.json) writeJson(result);
    else {
      for (const problem of result.problems) writeOut(`${result.repaired ? "repaired" : "problem"}: ${problem}\n`);
      writeOut(`Checked ${count(result.checkedBlobs, "blob")}: ${result.problems.length === 0 ? "the store is clean" : `${count(result.problems.length, "problem")}${result.repaired ? ", repaired" : "; run pypakr store verify --repair"}`}\n`);
    }
    return result.problems.length > 0 && !result.repaired ? 1 : 0;
  },
};
