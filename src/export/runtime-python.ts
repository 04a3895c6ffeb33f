/**
 * What Python a runtime image holds, asked of the interpreter itself: its
 * layers are unpacked into a private root filesystem (layer upon layer,
 * whiteouts applied, by the same extractor and rules as any untrusted tar)
 * and its `python3` runs in the sandbox with that tree as `/`. Reading
 * files instead (sysconfigdata, the libc's version string) would guess;
 * the runtime's Python is a stranger's program, hence the sandbox.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as z from "zod";
import { extractTar, type OrdinaryImage } from "../image/index.js";
import { introspectionScript, pythonSchema, type PythonIdentity } from "../python/index.js";
import { runInRootfs } from "../sandbox/index.js";
import { PypakrError } from "../util/errors.js";
import { tryParseJson } from "../util/json.js";
import { show } from "../util/printable.js";
import { writeFileAtomic } from "../util/fs.js";
import { hexOf } from "../util/hash.js";

/** The runtime's interpreter: its identity, where it is inside the image, and the wheel tags it loads. */
export interface RuntimePython extends PythonIdentity {
  /** sys.executable inside the image: what the venv's `home` and `bin/python` name. */
  executable: string;
  /** Every wheel tag it supports, most specific first (pip's own list), or null when it could not tell. */
  tags: string[] | null;
}

/** Directories bwrap mounts over: they must be real, empty directories of the tree. */
const MOUNT_POINTS = ["proc", "dev", "tmp"];
/** Where pip's vendored `packaging` is shown to the probe (below the sandbox's private /tmp). */
const PACKAGING_INSIDE = "/tmp/pypakr-probe";
const PROBE_TIMEOUT_MS = 30_000;

const PROBE = introspectionScript(
  `
try:
    sys.path.insert(0, ${JSON.stringify(PACKAGING_INSIDE)})
    from packaging.tags import sys_tags
    tags = [str(tag) for tag in sys_tags()]
except Exception:
    tags = None
`,
  '"tags": tags,',
);

/** An interpreter path that can go into pyvenv.cfg, a symlink and an Entrypoint as it is. */
const EXECUTABLE = /^\/[A-Za-z0-9._+/-]{1,255}$/;
const answerSchema = pythonSchema.extend({
  executable: z
    .string()
    .regex(EXECUTABLE, "must be a plain absolute path")
    .refine((value) => !value.split("/").includes(".."), "must not climb with .."),
  tags: z
    .array(z.string().regex(/^[A-Za-z0-9_.]{1,64}-[A-Za-z0-9_.]{1,64}-[A-Za-z0-9_.]{1,128}$/))
    .max(20_000)
    .nullable(),
});

/**
 * What an earlier export learned of the runtime with this manifest digest
 * (a digest names the same bytes forever, so the same answer), or null.
 * Kept in pypakr's own directory; read through the probe's schema all the
 * same.
 */
export async function knownRuntimePython(cacheDir: string, manifestDigest: string): Promise<RuntimePython | null> {
  const text = await fs.readFile(path.join(cacheDir, `${hexOf(manifestDigest)}.json`), "utf8").catch(() => null);
  return text === null ? null : (tryParseJson(text, answerSchema) ?? null);
}

export async function rememberRuntimePython(cacheDir: string, manifestDigest: string, python: RuntimePython): Promise<void> {
  await fs.mkdir(cacheDir, { recursive: true });
  await writeFileAtomic(path.join(cacheDir, `${hexOf(manifestDigest)}.json`), JSON.stringify(python));
}

/** Unpacks the runtime's layers into `rootfs` (an empty directory), ready to be a sandbox's `/`. */
export async function unpackRootfs(runtime: OrdinaryImage, rootfs: string, maxEntries: number): Promise<void> {
  for (const [index, layer] of runtime.manifest.layers.entries()) {
    await extractTar(runtime.blobFile(layer.digest), rootfs, { what: `layer ${index + 1} (${layer.digest.slice(0, 19)}) of runtime ${runtime.source}`, whiteouts: "apply", rootfs: true, maxEntries });
  }
  for (const name of MOUNT_POINTS) {
    const where = path.join(rootfs, name);
    const stats = await fs.lstat(where).catch(() => null);
    if (stats?.isDirectory()) continue;
    if (stats) await fs.rm(where);
    await fs.mkdir(where, { mode: 0o755 });
  }
  // Made private by mkdtemp; the probe may run as nobody (see ROOTFS_UID).
  await fs.chmod(rootfs, 0o755);
}

/** The runtime config's PATH (where Docker would look for python3 too), or the usual one. */
export function runtimePath(runtime: OrdinaryImage): string {
  const entry = runtime.config.config?.Env?.find((variable) => variable.startsWith("PATH="));
  return entry?.slice("PATH=".length) || "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

/**
 * Runs the probe with python3 (else python) from the image's PATH.
 * `packaging` is a directory holding pip's vendored `packaging` package,
 * which lists the wheel tags the interpreter loads (as pip decides).
 */
export async function askRuntimePython(runtime: OrdinaryImage, rootfs: string, packaging: string | null): Promise<RuntimePython> {
  const env = { PATH: runtimePath(runtime), HOME: "/tmp", LANG: "C.UTF-8" };
  const binds = packaging === null ? [] : [{ host: packaging, inside: PACKAGING_INSIDE }];
  const failures: string[] = [];
  for (const name of ["python3", "python"]) {
    const result = await runInRootfs(rootfs, [name, "-I", "-c", PROBE], env, { timeoutMs: PROBE_TIMEOUT_MS, maxOutputChars: 2_000_000, binds });
    const lastLine = (result.stderr.trim().split("\n").pop() ?? "").slice(0, 300);
    // bwrap's own failure (not its exec of the program) is the sandbox's, not the runtime's.
    if (result.code !== 0 && lastLine.startsWith("bwrap:") && !lastLine.includes("execvp")) {
      throw new PypakrError(`cannot run the runtime's Python in the sandbox: ${show(lastLine)}`, { code: "sandbox-unavailable", hint: "pypakr export runs the runtime's python3 under bubblewrap to ask what it is: install bubblewrap (apt-get install bubblewrap) and allow unprivileged user namespaces." });
    }
    if (result.code !== 0) {
      failures.push(`${name}: ${result.signal ? `killed by ${result.signal}` : `exit ${result.code}`}${lastLine ? ` (${show(lastLine)})` : ""}`);
      continue;
    }
    const parsed = tryParseJson(result.stdout.trim(), answerSchema);
    if (parsed === undefined) {
      throw new PypakrError(`the Python in runtime ${runtime.source} did not describe itself in a way pypakr can use`, { code: "runtime-unusable", hint: "Use a runtime image whose python3 is a standard CPython (e.g. python:3.11-slim)." });
    }
    return parsed;
  }
  throw new PypakrError(`runtime ${runtime.source} has no working python3 or python on its PATH (${show(runtimePath(runtime))}): ${failures.join("; ")}`, {
    code: "runtime-unusable",
    hint: "Use a runtime image that provides the interpreter, e.g. python:3.11-slim, or one with python3 on its PATH.",
  });
}
