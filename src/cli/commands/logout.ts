import type { CommandSpec } from "../command.js";

export const logout: CommandSpec = {
  name: "logout",
  summary: "remove a registry's stored credentials",
  needsConfig: false,
  define(command) {
    command.argument("<REGISTRY>", "HOST[:PORT]");
  },
  async run(_options, args) {
    const { logout: remove } = await import("../../registry/login.js");
    const { registry, removed } = await remove(args[0] ?? "");
    process.stdout.write(removed ? `Removed login credentials for ${registry}\n` : `Not logged in to ${registry}\n`);
  },
};
