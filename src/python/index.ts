/** python/'s face: finding and asking interpreters, the identity an image records, venvs, and RECORD files. Other folders import only this file (the lint enforces it; see eslint.config.js). */
export { describeInterpreter, describeKind, implementationName, INTERPRETER_KIND, interpreterKind, majorMinor, pythonSchema, type PythonIdentity } from "./identity.js";
export { findInterpreter, introspectionScript, pythonIdentity, type Interpreter } from "./interpreter.js";
export { INSTALL_MARKER, normalizeRecord, RECORD_PATH, recordPaths, resolveRecordPath } from "./record.js";
export { createVenv, supportedWheelTags, venvEnvironment } from "./venv.js";
