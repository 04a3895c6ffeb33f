/** config/'s face: the settings (~/.pypakr, environment, defaults) and the paths pypakr must never replace. Other folders import only this file (the lint enforces it; see eslint.config.js). */
export { type Config, defaultConfigFile, type EntryLimits, loadConfig, storeDir, tmpDir } from "./config.js";
export { checkOutputFile, ownPathProblem } from "./own-paths.js";
