/** registry/'s face: pull, push, login/logout, and fetching an image a command names by reference. Other folders import only this file (the lint enforces it; see eslint.config.js). */
export { ensureLocalImage } from "./ensure.js";
export { login, logout } from "./login.js";
export { fetchOrdinaryImage, type FetchOrdinaryOptions, type OrdinaryImageToPush, pushOrdinaryImage } from "./ordinary.js";
export { pullImage } from "./pull.js";
export { pushImage } from "./push.js";
export { formatReference, looksLikeRegistryReference, parseReference } from "./reference.js";
export type { TransportOptions } from "./http.js";
export type { TransferOptions } from "./push.js";
