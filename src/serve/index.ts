/** The face of src/serve/: `pypakr serve`, the gateway that runs apps from images on demand. */
export type { AppSettings, GatewaySettings } from "./types.js";
export { startGateway } from "./gateway.js";

// The gateway's settings: config file (TOML or YAML), flags, and the two combined for the command line.
export { loadAppSettings, loadServeConfig, type ServedAppSettings } from "./config/load.js";
export { serveSettings, settingsFromFlags, appNameOf, type ServeFlags } from "./config/flags.js";
export { APP_DEFAULTS, GATEWAY_DEFAULTS } from "./config/schema.js";
