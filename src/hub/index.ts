/** hub/'s face: `pypakr hub` (the server over a registry, its index and pages). Other folders import only this file. */
export { startHub } from "./hub.js";
export { DEFAULT_LISTEN, DEFAULT_RECONCILE_INTERVAL, type HubFlags, type HubSettings, hubSettings } from "./settings.js";
