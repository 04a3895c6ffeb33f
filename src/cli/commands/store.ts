import { count } from "../../util/plural.js";
import { defineCommand } from "../command.js";
import { flag, json } from "../options.js";
import { report } from "../output.js";

export const store = defineCommand("store", "check the store: `pypakr store verify [--repair]` re-hashes every blob and checks every image", {
  options: {
    repair: flag("--repair", "remove what is damaged so the store is consistent (damaged images must be loaded or built again)"),
    json: json(),
  },
  arguments: { "<ACTION>": "verify" },
  async run(options, args, { config }) {
    const { usageError } = await import("../../util/errors.js");
    if (args[0] !== "verify") throw usageError("usage", `unknown store action "${args[0] ?? ""}"`, "The store action is: pypakr store verify [--repair]");
    const { Store } = await import("../../store/index.js");
    const { verifyStore } = await import("../../store/index.js");
    const result = await verifyStore(await Store.open(config), { repair: options.repair });
    report(result, options, {
      text: ({ problems, repaired, checkedBlobs }) =>
        problems.map((problem) => `${repaired ? "repaired" : "problem"}: ${problem}\n`).join("") +
        `Checked ${count(checkedBlobs, "blob")}: ${problems.length === 0 ? "the store is clean" : `${count(problems.length, "problem")}${repaired ? ", repaired" : "; run pypakr store verify --repair"}`}\n`,
    });
    return result.problems.length > 0 && !result.repaired ? 1 : 0;
  },
});
