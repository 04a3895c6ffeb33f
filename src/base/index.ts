/** base/'s face: init, a base's record and manifest, choosing a base for an image, and planning a venv of base + layers. Other folders import only this file (the lint enforces it; see eslint.config.js). */
export { type PlannedEntry, planVenv } from "./assemble.js";
export { type Base, chooseBase, ensureBase, initBase, loadBase, PROMPT_PLACEHOLDER } from "./base.js";
export { interpreterNames, isBytecodePath, manifestByPath, type ManifestEntry, scanTree, UnsupportedFileError } from "./manifest.js";
