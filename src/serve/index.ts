/** The face of src/serve/: `pypakr serve`, the gateway that runs apps from images on demand. */
import type { Config } from "../config/index.js";
import { PypakrError } from "../util/errors.js";
import type { GatewaySettings } from "./types.js";

export type { AppSettings, GatewaySettings } from "./types.js";

// --- The gateway's settings: config file (TOML or YAML), flags, and the two combined for the command line. ---
export { loadServeConfig } from "./config/load.js";
export { serveSettings, settingsFromFlags, appNameOf, type ServeFlags } from "./config/flags.js";
export { APP_DEFAULTS, GATEWAY_DEFAULTS } from "./config/schema.js";
// --- end of the settings ---

/** TEMPORARY (issue 13, branch i13-b): a stand-in until the gateway lands; the lead replaces it with the real startGateway. */
// eslint-disable-next-line @typescript-eslint/require-await
export async function startGateway(_config: Config, _settings: GatewaySettings): Promise<number> {
  throw new PypakrError("pypakr serve's gateway is not built yet", { code: "usage", hint: "This build has only the gateway's settings; the gateway itself comes with the rest of issue 13." });
}
