/**
 * Finding a Python interpreter and asking it what it is. One Python start-up
 * per question, so only `init` and `create-image` pay for it; containers read
 * the answers a base recorded.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as z from "zod";
import { PypakrError } from "../util/errors.js";
import { capture } from "../util/process.js";
import { describeSchemaError } from "../util/json.js";
import { pythonSchema, type PythonIdentity } from "./identity.js";

export interface Interpreter extends PythonIdentity {
  /** sys.executable: what a venv's `home` and `bin/python` point at. */
  executable: string;
}

/**
 * The script that asks an interpreter what it is (run with -I -c): one JSON
 * object of the identity fields and sys.executable. `prelude` runs first and
 * `more` adds entries (export's probe of a runtime adds its wheel tags).
 */
export function introspectionScript(prelude = "", more = ""): string {
  return `
import json, platform, sys, sysconfig
libc, libc_version = platform.libc_ver()
${prelude}
print(json.dumps({
  "implementation": sys.implementation.name,
  "version": platform.python_version(),
  "abiFlags": getattr(sys, "abiflags", ""),
  "soabi": sysconfig.get_config_var("SOABI") or "",
  "os": sys.platform,
  "machine": platform.machine(),
  "libc": libc,
  "libcVersion": libc_version,
  "executable": sys.executable,
  ${more}
}))
`;
}

const INTROSPECT = introspectionScript();

async function onPath(name: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      await fs.access(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/** Resolves `python` (a path, or a name looked up on PATH) and introspects it. */
export async function findInterpreter(python: string, env: NodeJS.ProcessEnv = process.env): Promise<Interpreter> {
  const resolved = python.includes("/") ? path.resolve(python) : await onPath(python, env);
  const hint = "Install it, or pass --python /path/to/python (or set PYPAKR_PYTHON).";
  if (!resolved) throw new PypakrError(`Python interpreter "${python}" is not on PATH`, { code: "python-not-found", hint });
  let result;
  try {
    result = await capture(resolved, ["-I", "-c", INTROSPECT], { env });
  } catch (error) {
    throw new PypakrError(`cannot run Python interpreter ${resolved}: ${(error as Error).message}`, { code: "python-unusable", hint });
  }
  if (result.code !== 0) {
    throw new PypakrError(`${resolved} is not a working Python interpreter (exit ${result.code}): ${result.stderr.trim().split("\n").pop() ?? ""}`, { code: "python-unusable", hint });
  }
  let answer: unknown;
  try {
    answer = JSON.parse(result.stdout);
  } catch {
    throw new PypakrError(`${resolved} did not answer like a Python 3 interpreter`, { code: "python-unusable", hint });
  }
  // Held to the same grammar as an image's record of its interpreter, so a base's kind is always a plain name.
  const parsed = pythonSchema.extend({ executable: z.string().min(1) }).safeParse(answer);
  if (!parsed.success) throw new PypakrError(`${resolved} describes itself in a way pypakr cannot use (${describeSchemaError(parsed.error)})`, { code: "python-unusable", hint });
  return parsed.data;
}

/** The identity fields alone (what an image records), without this machine's executable path. */
export function pythonIdentity(interpreter: Interpreter): PythonIdentity {
  const { implementation, version, abiFlags, soabi, os, machine, libc, libcVersion } = interpreter;
  return { implementation, version, abiFlags, soabi, os, machine, libc, libcVersion };
}
