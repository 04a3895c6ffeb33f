import { writeOut } from "../../util/log.js";
import { show } from "../../util/printable.js";
import { defineCommand } from "../command.js";

export const logout = defineCommand("logout", "remove a registry's stored credentials", {
  needsConfig: false,
  options: {},
  arguments: { "<REGISTRY>": "HOST[:PORT]" },
  async run(_options, args) {
    const { logout: remove } = await import("../../registry/index.js");
    const { registry, removed } = await remove(args[0] ?? "");
    writeOut(removed ? `Removed login credentials for ${show(registry)}\n` : `Not logged in to ${show(registry)}\n`);
  },
});
