/** container/'s face: create-container, materializing a planned venv, a container's record, relocate, verify, and what `run` needs of relocation. Other folders import only this file (the lint enforces it; see eslint.config.js). */
export { createContainer } from "./container.js";
export { materializeVenv, relocatedContent } from "./materialize.js";
export { readContainerRecord } from "./record.js";
export { relocateContainer } from "./relocate.js";
export { finishRelocation, movedError, movedFrom } from "./relocation-journal.js";
export { verifyContainer } from "./verify.js";
export type { ContainerCheck } from "./verify.js";
export type { CreateContainerOptions } from "./container.js";
export type { CreatedContainer } from "./container.js";
