import * as path from "node:path";
import * as z from "zod";
import { PypakrError } from "../util/errors.js";
import { parseJson } from "../util/json.js";
import { capture } from "../util/process.js";

/** Environment for running a venv's Python or its scripts: that venv first on PATH, no PYTHONHOME. */
export function venvEnvironment(venv: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, VIRTUAL_ENV: venv, PATH: [path.join(venv, "bin"), base.PATH].filter(Boolean).join(path.delimiter) };
  delete env.PYTHONHOME;
  delete env.__PYVENV_LAUNCHER__;
  return env;
}

/**
 * `python -m venv DIR` with pip, from the standard library. `prompt` is what
 * activate shows; venv would otherwise bake in the directory's name.
 */
export async function createVenv(executable: string, dir: string, prompt: string): Promise<void> {
  const result = await capture(executable, ["-m", "venv", "--prompt", prompt, dir]);
  if (result.code !== 0) {
    throw new PypakrError(`"${executable} -m venv" failed (exit ${result.code}):\n${result.stderr.trim()}`, {
      code: "venv-failed",
      hint: "On Debian and Ubuntu, the venv module is a separate package: apt-get install python3-venv.",
    });
  }
}

/** The wheel tags this venv's interpreter accepts, in pip's order, from pip's own `packaging`. */
export async function supportedWheelTags(venv: string): Promise<string[]> {
  const script = "import json; from pip._vendor.packaging.tags import sys_tags; print(json.dumps([str(t) for t in sys_tags()]))";
  const result = await capture(path.join(venv, "bin", "python"), ["-I", "-c", script], { env: venvEnvironment(venv) });
  if (result.code !== 0) throw new PypakrError(`cannot list the wheel tags of ${venv}: ${result.stderr.trim()}`, { code: "python-unusable" });
  return parseJson(result.stdout, z.array(z.string()), `the wheel tags of ${venv}`, { code: "python-unusable", message: (detail) => `cannot list the wheel tags of ${venv}: its pip answered ${detail}` });
}
