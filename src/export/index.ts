/** export/'s face: `pypakr export` (a pypakr image on a runtime image, as an ordinary container image). Other folders import only this file (the lint enforces it; see eslint.config.js). */
export { DEFAULT_VENV, exportImage, type ExportFormat, type ExportOptions, type ExportResult } from "./export.js";
export { KNATIVE_PORT, type KnativeAppSettings, knativeService, knativeServiceName } from "./knative.js";
