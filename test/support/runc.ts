/**
 * Running an ordinary image as Docker or Kubernetes would, without a
 * container engine: skopeo copies the oci-archive into an OCI layout (zstd
 * layers made gzip for umoci), Debian's umoci unpacks it into a runtime
 * bundle (rootfs + config.json made from the image's config: User, Env,
 * WorkingDir, Entrypoint/Cmd), and runc runs it, as root.
 *
 * The container keeps its own pid, mount, ipc and uts namespaces but shares
 * the host's network, so an app listening on 127.0.0.1:PORT answers the
 * test. Its stdout and stderr go to one file (logs()). A container whose app
 * is PID 1 ignores SIGTERM unless the app handles it (python's http.server
 * does not), so stop() is `runc delete --force` (SIGKILL). Every container
 * still there when the test process exits is deleted then.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as z from "zod";
import { randomSuffix } from "../../src/util/temp-names.js";
import { makeTempDir, removeDir } from "./helpers.js";
import { send, until, type Answer } from "./serve-gateway.js";
import { requireTools, runTool, runToolOk } from "./tools.js";

export { requireRoot } from "./tools.js";

export interface RunImageOptions {
  /** Names the container (a random suffix is added, so parallel test files never collide). */
  name: string;
  /** Added to the image's environment, replacing a variable of the same name. */
  env?: Record<string, string>;
  /** The port the app is to listen on: given to it as PORT (replacing the image's, e.g. 8080), on the host's loopback. */
  port: number;
  /** The process's whole argv, in place of the image's Entrypoint + Cmd. */
  args?: string[];
  /** The numeric user, in place of the image's User. */
  user?: { uid: number; gid: number };
}

export interface RunningImage {
  /** runc's id of the container: `name` plus a random suffix. */
  id: string;
  /** The host pid of the container's first process. */
  pid: number;
  /** SIGKILLs the container's processes and removes it and its bundle; safe to call twice. */
  stop(): Promise<void>;
  /** What the container wrote to stdout and stderr so far. */
  logs(): string;
}

const UNPACK_TIMEOUT_MS = 120_000;
const RUNC_TIMEOUT_MS = 30_000;

/** Containers started and not yet deleted: id -> their temp dir. */
const running = new Map<string, string>();
/** When the test process ends without stop() (a failed assertion before it, an interrupt), no container stays behind. */
const deleteAll = () => {
  for (const [id, dir] of running) {
    spawnSync("runc", ["delete", "--force", id], { timeout: RUNC_TIMEOUT_MS });
    rmSync(dir, { recursive: true, force: true });
  }
  running.clear();
};
process.on("exit", deleteAll);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => {
    deleteAll();
    process.kill(process.pid, signal);
  });
}

/** The parts of umoci's config.json this module changes. */
const bundleConfigSchema = z.looseObject({
  process: z.looseObject({ terminal: z.boolean().optional(), env: z.array(z.string()).optional(), args: z.array(z.string()), user: z.looseObject({ uid: z.number(), gid: z.number() }) }),
  linux: z.looseObject({ namespaces: z.array(z.looseObject({ type: z.string() })) }),
});
type BundleConfig = z.infer<typeof bundleConfigSchema>;

function withEnv(env: string[], additions: Record<string, string>): string[] {
  const names = new Set(Object.keys(additions));
  return [...env.filter((entry) => !names.has(entry.slice(0, entry.indexOf("=")))), ...Object.entries(additions).map(([name, value]) => `${name}=${value}`)];
}

function adjust(config: BundleConfig, options: RunImageOptions): BundleConfig {
  const spec = { ...config.process, terminal: false, env: withEnv(config.process.env ?? [], { ...options.env, PORT: String(options.port) }) };
  if (options.args) spec.args = options.args;
  if (options.user) spec.user = { ...spec.user, uid: options.user.uid, gid: options.user.gid };
  // Without a network namespace of its own the app's 127.0.0.1 is the host's.
  const namespaces = config.linux.namespaces.filter((namespace) => namespace.type !== "network");
  return { ...config, process: spec, linux: { ...config.linux, namespaces } };
}

/**
 * Unpacks `refName` of the OCI layout directory `layout` (gzip layers: see
 * runImage) into the runtime bundle `bundle`, with the changes `options`
 * asks for in its config.json. The benchmark starts such a bundle many times.
 */
export async function unpackBundle(layout: string, refName: string, bundle: string, options: RunImageOptions): Promise<void> {
  // `raw unpack` + `raw runtime-config` is what `umoci unpack` does but for the mtree manifest of the rootfs
  // (for a later repack), a quarter of its time.
  const image = `${layout}:${refName}`;
  await fs.mkdir(bundle);
  await runToolOk("umoci", ["raw", "unpack", "--image", image, path.join(bundle, "rootfs")], { timeoutMs: UNPACK_TIMEOUT_MS });
  await runToolOk("umoci", ["raw", "runtime-config", "--image", image, "--rootfs", path.join(bundle, "rootfs"), path.join(bundle, "config.json")], { timeoutMs: UNPACK_TIMEOUT_MS });
  const configFile = path.join(bundle, "config.json");
  const config = bundleConfigSchema.parse(JSON.parse(await fs.readFile(configFile, "utf8")));
  await fs.writeFile(configFile, JSON.stringify(adjust(config, options)));
}

/**
 * Unpacks `refName` of the oci-archive `archive` and starts it detached,
 * with the changes `options` asks for. Resolves once runc has started the
 * process (not once the app is ready: see waitForHttp). Needs root,
 * skopeo, umoci and runc.
 */
export async function runImage(archive: string, refName: string, options: RunImageOptions): Promise<RunningImage> {
  requireTools({ skopeo: "skopeo", umoci: "umoci", runc: "runc" }, "running an image with runc");
  const dir = await makeTempDir(`pypakr-runc-${options.name}-`);
  const id = `${options.name}-${randomSuffix()}`;
  const logFile = path.join(dir, "output.log");
  const pidFile = path.join(dir, "pid");
  try {
    const layout = path.join(dir, "layout");
    const bundle = path.join(dir, "bundle");
    // Debian's umoci (0.4.7) refuses zstd layers, pypakr's default, which Docker 23+, containerd 1.5+ and podman
    // run: skopeo copies the image into a layout with such layers as gzip (gzip ones as they are: 0.4 s for 18 MB).
    await runToolOk("skopeo", ["copy", "--quiet", "--dest-compress-format", "gzip", `oci-archive:${archive}:${refName}`, `oci:${layout}:${refName}`], { timeoutMs: UNPACK_TIMEOUT_MS });
    await unpackBundle(layout, refName, bundle, options);
    await fs.rm(layout, { recursive: true });
    running.set(id, dir);
    // The detached container inherits runc's stdout and stderr: the log file's descriptor (runc's own errors go there too).
    const log = await fs.open(logFile, "wx");
    try {
      const started = await runTool("runc", ["run", "--detach", "--pid-file", pidFile, "--bundle", bundle, id], { timeoutMs: RUNC_TIMEOUT_MS, stdout: log.fd, stderr: log.fd });
      if (started.code !== 0) throw new Error(`runc run ${id} failed (exit ${started.code ?? started.signal}):\n${await fs.readFile(logFile, "utf8")}`);
    } finally {
      await log.close();
    }
    // From runc as it started the process: `runc state` says pid 0 once a short-lived one has exited.
    const pid = Number(await fs.readFile(pidFile, "utf8"));
    let stopped = false;
    return {
      id,
      pid,
      logs: () => readFileSync(logFile, "utf8"),
      async stop() {
        if (stopped) return;
        stopped = true;
        await deleteContainer(id, dir);
      },
    };
  } catch (error) {
    await deleteContainer(id, dir);
    throw error;
  }
}

async function deleteContainer(id: string, dir: string): Promise<void> {
  // --force on a container runc never made fails harmlessly ("container does not exist").
  await runTool("runc", ["delete", "--force", id], { timeoutMs: RUNC_TIMEOUT_MS });
  running.delete(id);
  await removeDir(dir);
}

/**
 * Polls `url` until it gives an HTTP answer (any status), and returns it;
 * throws after `timeoutMs`, with `context()` (e.g. the container's logs) in
 * the message.
 */
export async function waitForHttp(url: string, timeoutMs: number, context: () => string = () => ""): Promise<Answer> {
  try {
    return await until(`an HTTP answer from ${url}`, timeoutMs, () => send(url, { timeoutMs: 2_000 }).catch(() => undefined), 100);
  } catch (error) {
    const more = context();
    throw new Error(`${(error as Error).message}${more ? `\n--- context\n${more}` : ""}`, { cause: error });
  }
}
