/**
 * From an app's image reference to what its instances run: the image is
 * found (or pulled) when the gateway starts, so a wrong reference fails
 * before anything listens; the container is made on the first request that
 * needs it, once per image digest, and its instances share it read-only.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Config } from "../config/index.js";
import { readContainerRecord } from "../container/index.js";
import { ensureLocalImage } from "../registry/index.js";
import { containerForRun, type Connection } from "../run/index.js";
import { addImageArchive, Store } from "../store/index.js";
import type { Digest } from "../util/hash.js";
import { PypakrError } from "../util/errors.js";

export interface PreparedContainer {
  digest: Digest;
  dir: string;
  /** The image's entry point, run with the container as working directory. */
  argv: string[];
  /** The venv's environment and the image's; the app's own settings go over it. */
  env: Record<string, string>;
  /** Host paths the instance needs to see, read-only: the container and the interpreter's installation. */
  readOnly: string[];
  /** The interpreter the venv runs (bin/python3's target). */
  python: string;
}

/** The digest an app's image reference names: a stored image, an image file (loaded), or a registry reference (pulled when missing). */
export async function resolveImage(config: Config, image: string, connection: Connection): Promise<Digest> {
  const local = await ensureLocalImage(config, image, connection);
  return local.digest ?? (await addImageArchive(await Store.open(config), image, { unpack: true })).digest;
}

/** The container for a digest (made when missing or when it holds another image) and what its instances run. */
export async function prepareContainer(config: Config, digest: Digest): Promise<PreparedContainer> {
  const dir = await containerForRun(config, { image: digest });
  const record = await readContainerRecord(dir);
  const argv = record.entrypoint.length > 0 ? record.entrypoint : ["./run"];
  const env: Record<string, string> = {
    PATH: `${path.join(dir, "bin")}:/usr/local/bin:/usr/bin:/bin`,
    VIRTUAL_ENV: dir,
    LANG: "C.UTF-8",
    // The container is read-only to its instances: there is no point trying to write bytecode.
    PYTHONDONTWRITEBYTECODE: "1",
    ...record.environment,
  };
  const python = await interpreter(dir);
  return { digest, dir, argv, env, python, readOnly: [dir, path.dirname(path.dirname(python))] };
}

/** How long compiling a container's modules may take before it is given up (a later gateway run tries again). */
const COMPILE_TIMEOUT_MS = 10 * 60_000;

/**
 * Compiles the container's modules into their __pycache__ directories, as a
 * first `pypakr run` would, so that later cold starts load bytecode instead
 * of compiling: the instances cannot write there themselves (the container
 * is read-only to them, and one instance's cache shared with the next would
 * let a compromised instance leave code behind for it). Run after the first
 * instance served, at low priority, so that it does not delay that start.
 * Compiling reads the image's files without running them: -I -S keeps the
 * venv's site-packages and their .pth files (code that would run at start-up)
 * out of this run, which has the gateway's rights. Failures only cost speed.
 */
export async function compileBytecode(container: PreparedContainer): Promise<void> {
  await new Promise<void>((resolve) => {
    const child = spawn("nice", ["-n", "10", container.python, "-I", "-S", "-m", "compileall", "-q", "-j", "1", container.dir], { cwd: "/", env: {}, stdio: "ignore", timeout: COMPILE_TIMEOUT_MS });
    child.on("error", () => resolve());
    child.on("close", () => resolve());
  });
}

/**
 * The interpreter the venv runs (its bin/python3 is a symlink to it; its
 * installation, with libpython and the standard library, is two levels up). The
 * container was made by this pypakr from its own base, so the link is ours,
 * but it is still checked to be an absolute path of the usual shape.
 */
async function interpreter(container: string): Promise<string> {
  const python = await fs.realpath(path.join(container, "bin", "python3")).catch(() => null);
  if (python === null || path.basename(path.dirname(python)) !== "bin" || path.dirname(path.dirname(python)) === "/") {
    throw new PypakrError(`container ${container} has no usable bin/python3 to run its app with`, { code: "container-damaged", hint: `Remove ${container}; pypakr serve makes it again.` });
  }
  return python;
}
