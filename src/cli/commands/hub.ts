import { defineCommand } from "../command.js";
import { flag, registryOptions, required, text } from "../options.js";

/** Node 22 warns once that node:sqlite is experimental; the hub's index is its one user, and the warning would only alarm. */
function silenceSqliteWarning(): void {
  const original = process.emitWarning.bind(process);
  process.emitWarning = (warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === "string" ? warning : warning.message;
    if (/SQLite is an experimental feature/.test(text)) return;
    Reflect.apply(original, undefined, [warning, ...rest]);
  };
}

export const hub = defineCommand("hub", "run a web hub beside a registry: browse and search its Python images (distributions, versions, licenses), compare tags, download SBOMs; fed by the registry's notifications", {
  ownsSignals: true,
  options: {
    registry: required("--registry <URL>", "the registry to show, e.g. http://127.0.0.1:5000 or https://registry.example (its logins come from `pypakr login`)"),
    listen: text("--listen <HOST:PORT>", "address to listen on, IPv6 as [::1]:8080 (default: 127.0.0.1:8080)"),
    data: text("--data <DIR>", "where the hub keeps its index and tokens (default: PYPAKRDIR/hub)"),
    private: flag("--private", "every page needs a login: the admin token, or a user name and password the registry accepts"),
    reconcileInterval: text("--reconcile-interval <DURATION>", "walk the registry's catalog this often to catch what notifications missed, e.g. 10m, 1h, or off (default: 10m; one walk always runs at start)"),
    ...registryOptions(),
  },
  async run(options, _args, { config }) {
    silenceSqliteWarning();
    const { hubSettings, startHub } = await import("../../hub/index.js");
    return startHub(config, hubSettings(config, options));
  },
});
