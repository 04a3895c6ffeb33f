/**
 * Real wheels from PyPI for tests that build an app offline ("from local
 * wheels"): downloaded once with pip, for the interpreter the tests build
 * with, and kept between runs under ~/.cache/pypakr/test-wheels (a finished
 * set is renamed into place whole, so a set that exists is complete).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { runTool } from "./tools.js";

const DOWNLOAD_TIMEOUT_MS = 180_000;

function cacheRoot(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "pypakr", "test-wheels");
}

/** A directory holding wheels for `requirements` (pip's syntax) and all they need. */
export async function downloadedWheels(requirements: string[]): Promise<string> {
  const python = process.env.PYPAKR_PYTHON || "python3";
  const key = createHash("sha256").update(JSON.stringify([python, ...requirements])).digest("hex").slice(0, 16);
  const dir = path.join(cacheRoot(), `${requirements.map((r) => r.replace(/[^A-Za-z0-9]+/g, "_")).join("-")}-${key}`);
  if (await fs.stat(dir).then(() => true, () => false)) return dir;
  await fs.mkdir(cacheRoot(), { recursive: true });
  const temp = await fs.mkdtemp(`${dir}.part-`);
  try {
    const result = await runTool(python, ["-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:", "--dest", temp, ...requirements], { timeoutMs: DOWNLOAD_TIMEOUT_MS });
    if (result.code !== 0) throw new Error(`pip download ${requirements.join(" ")} failed (exit ${result.code ?? result.signal}); the test needs PyPI once:\n${result.output.slice(-2000)}`);
    // Another test process may have finished the same set first: either is whole.
    await fs.rename(temp, dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOTEMPTY" && error.code !== "EEXIST") throw error;
    });
    return dir;
  } finally {
    await fs.rm(temp, { recursive: true, force: true });
  }
}
