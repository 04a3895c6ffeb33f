/**
 * Checks of the documents `pypakr sbom` writes, by their own specs' tools.
 *
 * CycloneDX JSON validation against the schemas the CycloneDX library ships
 * (res/schema), with ajv 8 and ajv-formats: the bom schemas `$ref` the SPDX,
 * JSF and cryptography schemas by their SNAPSHOT names, so those are
 * registered under exactly those URLs (their own `$id`s say otherwise).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { makeTempDir, removeDir, REPO } from "./helpers.js";

const SCHEMAS = path.join(REPO, "node_modules", "@cyclonedx", "cyclonedx-library", "res", "schema");
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const compiled = new Map<string, ValidateFunction>();

function load(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(SCHEMAS, file), "utf8")) as Record<string, unknown>;
}

/** The SPDX license ids the schema accepts in `license.id`. */
export function spdxIds(): Set<string> {
  return new Set((load("spdx.SNAPSHOT.schema.json") as { enum: string[] }).enum);
}

/** The schema's errors for `document` ([] when it is valid). */
export function cycloneDxErrors(document: unknown, version = "1.6"): string[] {
  let validate = compiled.get(version);
  if (!validate) {
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    addFormats(ajv);
    // The two formats ajv-formats lacks: an IRI reference is checked as a URL (what pypakr writes there), an e-mail is not written.
    ajv.addFormat("iri-reference", (value: string) => URL.canParse(value, "http://relative.invalid/"));
    ajv.addFormat("idn-email", true);
    for (const name of ["spdx", "jsf-0.82", "cryptography-defs"]) ajv.addSchema(load(`${name}.SNAPSHOT.schema.json`), `http://cyclonedx.org/schema/${name}.SNAPSHOT.schema.json`);
    validate = ajv.compile(load(`bom-${version}.SNAPSHOT.schema.json`));
    compiled.set(version, validate);
  }
  return validate(document) ? [] : (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message ?? ""} ${JSON.stringify(error.params)}`);
}

/** Whether python3 has packaging's PEP 751 validator (packaging >= 25). */
export function pythonHasPylock(): boolean {
  return spawnSync("python3", ["-c", "import packaging.pylock"]).status === 0;
}

/** packaging.pylock's verdict on a lock file's text: "" when valid. */
export async function pylockProblem(text: string): Promise<string> {
  const dir = await makeTempDir("pypakr-pylock-");
  try {
    const file = path.join(dir, "pylock.toml");
    await fsp.writeFile(file, text);
    const result = spawnSync("python3", ["-c", "import sys, tomllib\nfrom packaging.pylock import Pylock\nPylock.from_dict(tomllib.load(open(sys.argv[1], 'rb'))).validate()", file], { encoding: "utf8" });
    return result.status === 0 ? "" : result.stderr || `exit ${result.status}`;
  } finally {
    await removeDir(dir);
  }
}
