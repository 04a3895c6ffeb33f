/** registry/'s face: pull, push, login/logout, fetching an image a command names by reference, and browsing a registry (the hub). Other folders import only this file (the lint enforces it; see eslint.config.js). */
export { type BrowseOptions, RegistryBrowser } from "./browse.js";
export type { Credentials } from "./credentials.js";
export type { ManifestDocument } from "./download.js";
export { ensureLocalImage } from "./ensure.js";
export { login, logout } from "./login.js";
export { fetchOrdinaryImage, type FetchOrdinaryOptions, type OrdinaryImageToPush, pushOrdinaryImage } from "./ordinary.js";
export { pullImage } from "./pull.js";
export { pushImage } from "./push.js";
export { formatReference, looksLikeRegistryReference, parseReference } from "./reference.js";
export type { TransportOptions } from "./http.js";
export type { TransferOptions } from "./push.js";
