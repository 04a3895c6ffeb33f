/** run/'s face: running a program in a container. Other folders import only this file (the lint enforces it; see eslint.config.js). */
export { runInContainer } from "./run.js";
export { containerForRun } from "./provision.js";
export type { Connection } from "./provision.js";
export { createContainerFrom } from "./provision.js";
