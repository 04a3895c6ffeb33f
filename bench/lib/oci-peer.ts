/**
 * What the export rows compare pypakr's exported image with, made without a
 * container engine, and what both are read and run with:
 *
 * - the peer: the image a Dockerfile makes of the same app on the same
 *   runtime (`FROM python:3.11-slim`, `RUN python -m venv /app/venv &&
 *   /app/venv/bin/pip install --no-index --find-links W flask gunicorn`,
 *   `COPY app.py run /app/`): a venv + pip install into a directory, its
 *   tree as one layer and the app files as another, added to the runtime's
 *   OCI layout by umoci;
 * - an image's blobs (manifest, config, layers) from an oci-archive or a
 *   layout, for sizes and for the bytes a second app sends;
 * - one cold start under runc: from `runc run` to the app's first answer.
 */
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { pollFirstByte } from "./serving.js";
import { type Step } from "./proc.js";

/** Where the venv goes in both images, and the runtime's interpreter (Debian's python3). */
export const APP_VENV = "/app/venv";
const RUNTIME_PYTHON = "/usr/bin/python3";
const RUNTIME_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The Dockerfile's RUN executes the runtime's python; here the host's makes
 * the venv (Debian's python3 in the runtime has no ensurepip) and this
 * points it at the runtime's: bin/python links, pyvenv.cfg, and the venv's
 * path in bin/'s scripts (shebangs, activate). Same minor version, so pip's
 * bytecode stays valid.
 */
const POINT_AT_RUNTIME = String.raw`
import os, sys
venv, target, python = sys.argv[1:4]
bindir = os.path.join(venv, "bin")
for name in sorted(os.listdir(bindir)):
    full = os.path.join(bindir, name)
    if os.path.islink(full):
        if os.path.isabs(os.readlink(full)):
            os.unlink(full)
            os.symlink(python, full)
    elif os.path.isfile(full):
        with open(full, "rb") as f:
            data = f.read()
        if venv.encode() in data:
            with open(full, "wb") as f:
                f.write(data.replace(venv.encode(), target.encode()))
cfg = os.path.join(venv, "pyvenv.cfg")
lines = []
for line in open(cfg):
    key = line.split("=", 1)[0].strip()
    if key == "home":
        line = "home = %s\n" % os.path.dirname(python)
    elif key in ("executable", "command"):
        continue
    lines.append(line)
open(cfg, "w").write("".join(lines))
`;

export interface PeerBuild {
  /** The steps a timed build runs (venv, pip, pointing it at the runtime, two layers, the config). */
  steps: Step[];
  /** The layout directory and tag of the finished image. */
  layout: string;
  tag: string;
}

const TAR_OPTIONS = ["--sort=name", "--owner=0", "--group=0", "--numeric-owner"];

/**
 * Prepares (untimed) a copy of the runtime's layout in `dir` and the app's
 * files in `dir`/root/app; returns the steps that build the peer image.
 */
export function preparePeerBuild(dir: string, runtimeArchive: string, runtimeRef: string, appFiles: string[], python: string, wheels: string, requirements: string[]): PeerBuild {
  fs.rmSync(dir, { recursive: true, force: true });
  const layout = path.join(dir, "layout");
  const root = path.join(dir, "root");
  const app = path.join(root, "app");
  fs.mkdirSync(layout, { recursive: true });
  fs.mkdirSync(app, { recursive: true });
  execFileSync("tar", ["-xf", runtimeArchive, "-C", layout]);
  for (const file of appFiles) fs.copyFileSync(file, path.join(app, path.basename(file)));
  const venv = path.join(app, "venv");
  const image = (tag: string) => `${layout}:${tag}`;
  const tag = "peer";
  const venvTar = path.join(dir, "venv.tar");
  const appTar = path.join(dir, "app.tar");
  return {
    layout,
    tag,
    steps: [
      { cmd: python, args: ["-m", "venv", venv] },
      { cmd: path.join(venv, "bin", "pip"), args: ["install", "--no-index", "--find-links", wheels, ...requirements] },
      { cmd: python, args: ["-c", POINT_AT_RUNTIME, venv, APP_VENV, RUNTIME_PYTHON] },
      { cmd: "tar", args: ["-cf", venvTar, ...TAR_OPTIONS, "-C", root, "--no-recursion", "app", "--recursion", "app/venv"] },
      { cmd: "umoci", args: ["raw", "add-layer", "--image", image(runtimeRef), "--tag", tag, venvTar] },
      { cmd: "tar", args: ["-cf", appTar, ...TAR_OPTIONS, "-C", root, ...appFiles.map((file) => `app/${path.basename(file)}`)] },
      { cmd: "umoci", args: ["raw", "add-layer", "--image", image(tag), appTar] },
      {
        cmd: "umoci",
        args: ["config", "--image", image(tag), "--clear", "config.cmd", "--config.entrypoint", "/app/run", "--config.workingdir", "/app", "--config.user", "65532:65532", ...["PATH=/app/venv/bin:" + RUNTIME_PATH, `VIRTUAL_ENV=${APP_VENV}`, "PORT=8080"].flatMap((variable) => ["--config.env", variable])],
      },
    ],
  };
}

export interface Blob {
  digest: string;
  size: number;
}

export interface ImageBlobs {
  manifest: Blob;
  config: Blob;
  layers: Blob[];
}

interface Index {
  manifests: (Blob & { annotations?: Record<string, string> })[];
}

/** An image's manifest, config and layers, read from an oci-archive file or a layout directory; `refName` picks a manifest when there are several. */
export function imageBlobs(source: string, refName?: string): ImageBlobs {
  const read = fs.statSync(source).isDirectory()
    ? (name: string) => fs.readFileSync(path.join(source, name))
    : (name: string) => execFileSync("tar", ["-xOf", source, name], { maxBuffer: 64 * 1024 * 1024 });
  const index = JSON.parse(read("index.json").toString()) as Index;
  const named = index.manifests.filter((entry) => refName === undefined || entry.annotations?.["org.opencontainers.image.ref.name"] === refName);
  const [manifest] = named;
  if (!manifest || named.length > 1) throw new Error(`${source} has ${named.length} manifests${refName ? ` named ${refName}` : ""}, not one`);
  const body = JSON.parse(read(`blobs/sha256/${manifest.digest.replace(/^sha256:/, "")}`).toString()) as { config: Blob; layers: Blob[] };
  const blob = ({ digest, size }: Blob): Blob => ({ digest, size });
  return { manifest: blob(manifest), config: blob(body.config), layers: body.layers.map(blob) };
}

export function layerBytes(image: ImageBlobs): number {
  return image.layers.reduce((sum, layer) => sum + layer.size, 0);
}

/** What a push of `second` sends to a registry that has `first`: its manifest, and its config and layers that `first` lacks. */
export function bytesToSend(first: ImageBlobs, second: ImageBlobs): number {
  const has = new Set([first.config, ...first.layers].map((blob) => blob.digest));
  return second.manifest.size + [second.config, ...second.layers].filter((blob) => !has.has(blob.digest)).reduce((sum, blob) => sum + blob.size, 0);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function runcDelete(id: string): void {
  try {
    execFileSync("runc", ["delete", "--force", id], { stdio: "ignore", timeout: 30_000 });
  } catch {
    // never started, or gone already
  }
}

/**
 * Starts `bundle` (made by test/support/runc.ts unpackBundle: host network,
 * PORT set) with `runc run --detach`, polls `url` every 2 ms, and returns
 * the ms from the spawn of runc to an answer; throws unless it is 200.
 * SIGKILLs and deletes the container after (PID 1 may ignore SIGTERM).
 */
export async function runcColdStart(bundle: string, id: string, url: string, logFile: string, timeoutMs = 60_000): Promise<number> {
  const log = fs.openSync(logFile, "w");
  const logs = () => fs.readFileSync(logFile, "utf8").slice(-3000);
  try {
    const started = process.hrtime.bigint();
    // The detached container keeps runc's stdout and stderr: a file, not pipes.
    const runc = spawn("runc", ["run", "--detach", "--bundle", bundle, id], { stdio: ["ignore", log, log] });
    const failed = new Promise<never>((_, reject) => {
      runc.on("error", reject);
      runc.on("exit", (code, signal) => {
        if (code !== 0) reject(new Error(`runc run ${id} failed (${signal ?? `exit ${code}`}):\n${logs()}`));
      });
    });
    failed.catch(() => {});
    const status = await Promise.race([pollFirstByte(url, Date.now() + timeoutMs), failed]);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (status !== 200) throw new Error(`the app answered ${status}, not 200:\n${logs()}`);
    return ms;
  } finally {
    runcDelete(id);
    fs.closeSync(log);
    // The listening socket goes with the killed process; give the kernel a moment before the next start binds the port.
    await sleep(50);
  }
}
