/**
 * Runtime images for the export tests: an ordinary image that provides a
 * Python interpreter, as `python:3.11-slim` does for a user, built here from
 * Debian's packages only (no Docker Hub) and kept between test runs.
 *
 * bookworm has Python 3.11, the minor version of the Python the tests build
 * pypakr images with; trixie has 3.13, the mismatched twin, which only the
 * mismatch test asks for (each suite is built on its first request).
 *
 * The rootfs is `mmdebstrap --variant=extract` of python3, base-files (os-release,
 * and trixie's merged-/usr links) and dash (/bin/sh, which pypakr's `run`
 * scripts need): packages unpacked, no maintainer script run, 23 s and 18 MB
 * for bookworm. mmdebstrap has no OCI output, so the rootfs tar becomes a
 * one-layer oci-archive here. SOURCE_DATE_EPOCH makes both steps
 * reproducible (for one state of the Debian mirror).
 *
 * Cache: ${XDG_CACHE_HOME:-~/.cache}/pypakr/test-runtimes/SUITE-KEY.oci.tar,
 * KEY a hash of the recipe below (a change to it builds anew). The archive is
 * renamed into place complete, and a lock beside it keeps two test processes
 * from building the same one at once (the loser waits and takes the
 * winner's).
 */
import { createReadStream, createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import { constants as zlibConstants, createGzip } from "node:zlib";
import { writeBlobsArchive } from "../../src/image/archive.js";
import { MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_MANIFEST } from "../../src/image/media-types.js";
import { acquireLock } from "../../src/store/index.js";
import { sha256Digest, sha256Hex, Sha256Tap } from "../../src/util/hash.js";
import { makeTempDir, removeDir } from "./helpers.js";
import { requireTools, runTool, runToolOk } from "./tools.js";

export type RuntimeSuite = "bookworm" | "trixie";

export interface RuntimeImage {
  /** An oci-archive file (read it, do not change it: it is the cache). */
  archive: string;
  /** The org.opencontainers.image.ref.name of its one manifest, e.g. "bookworm-python3". */
  refName: string;
}

/** The Python minor version each suite's python3 has. */
export const RUNTIME_PYTHON: Record<RuntimeSuite, string> = { bookworm: "3.11", trixie: "3.13" };

const MIRROR = "http://deb.debian.org/debian";
const SOURCE_DATE_EPOCH = 1_700_000_000;
const PACKAGES = "python3,base-files,dash";
/** Documentation and translations: nothing a runtime needs, a third of the size. */
const DPKG_OPTIONS = [
  "path-exclude=/usr/share/doc/*",
  "path-include=/usr/share/doc/*/copyright",
  "path-exclude=/usr/share/man/*",
  "path-exclude=/usr/share/locale/*",
  "path-exclude=/usr/share/info/*",
];
/**
 * With --variant=extract only extract hooks run (not customize hooks). They
 * drop the host's resolv.conf and hostname, which mmdebstrap copies in; give
 * the accounts and directories no package made because no maintainer script
 * ran; and make /proc and /sys, where a sandbox mounts them.
 */
const EXTRACT_HOOKS = [
  'rm -f "$1"/etc/resolv.conf "$1"/etc/hostname',
  'printf "root:x:0:0:root:/root:/bin/sh\\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\\n" > "$1"/etc/passwd',
  'printf "root:x:0:\\nnogroup:x:65534:\\n" > "$1"/etc/group',
  'mkdir -p "$1"/root "$1"/tmp "$1"/proc "$1"/sys && chmod 1777 "$1"/tmp',
];
/** mmdebstrap puts device nodes in /dev; a layer should not carry them (the container runtime makes /dev). */
const TAR_FILTER = ["--path-exclude=/dev/*"];
/** What the image runs when told nothing else, and the environment every process in it gets. */
const IMAGE_CONFIG = {
  Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
  Cmd: ["/usr/bin/python3"],
};
/** Bumped when the way the archive is made changes in a way the values above do not show. */
const RECIPE_VERSION = 1;

const BUILD_TIMEOUT_MS = 10 * 60_000;
/** Longer than a build, so a waiting process times out only when the builder hangs. */
const LOCK_TIMEOUT_MS = BUILD_TIMEOUT_MS + 60_000;
const GZIP_LEVEL = 6;

function mmdebstrapArgs(suite: RuntimeSuite, target: string): string[] {
  return [
    "--variant=extract",
    `--include=${PACKAGES}`,
    ...DPKG_OPTIONS.map((option) => `--dpkgopt=${option}`),
    ...EXTRACT_HOOKS.map((hook) => `--extract-hook=${hook}`),
    suite,
    target,
    MIRROR,
  ];
}

/** The cache key: everything that decides the archive's bytes, but the mirror's state. */
function recipeKey(suite: RuntimeSuite): string {
  const recipe = { RECIPE_VERSION, mmdebstrap: mmdebstrapArgs(suite, "OUT"), TAR_FILTER, IMAGE_CONFIG, SOURCE_DATE_EPOCH, GZIP_LEVEL, arch: "amd64" };
  return sha256Hex(JSON.stringify(recipe)).slice(0, 16);
}

export function runtimeCacheDir(): string {
  const cacheHome = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(cacheHome, "pypakr", "test-runtimes");
}

const exists = (file: string) =>
  fs.stat(file).then(
    () => true,
    () => false,
  );

/**
 * The runtime image of `suite`: from the cache, or built (about 25 s, needs
 * root and deb.debian.org) and cached. Throws an error naming what is
 * missing (mmdebstrap, the network) when it cannot be built.
 */
export async function runtimeImage(suite: RuntimeSuite): Promise<RuntimeImage> {
  const refName = `${suite}-python3`;
  const dir = runtimeCacheDir();
  const archive = path.join(dir, `${suite}-${recipeKey(suite)}.oci.tar`);
  if (await exists(archive)) return { archive, refName };
  requireTools({ mmdebstrap: "mmdebstrap", mmtarfilter: "mmdebstrap" }, `building the ${suite} runtime image for the export tests`);
  await fs.mkdir(dir, { recursive: true });
  const release = await acquireLock(`${archive}.lock`, LOCK_TIMEOUT_MS);
  try {
    // Another process may have built it while this one waited for the lock.
    if (!(await exists(archive))) await buildRuntimeImage(suite, archive, refName);
  } finally {
    await release();
  }
  return { archive, refName };
}

async function buildRuntimeImage(suite: RuntimeSuite, archive: string, refName: string): Promise<void> {
  const work = await makeTempDir(`pypakr-runtime-${suite}-`);
  try {
    const rootfs = path.join(work, "rootfs.tar");
    const env = { ...process.env, SOURCE_DATE_EPOCH: String(SOURCE_DATE_EPOCH) };
    const built = await runTool("mmdebstrap", mmdebstrapArgs(suite, rootfs), { timeoutMs: BUILD_TIMEOUT_MS, env });
    if (built.code !== 0) throw new Error(mmdebstrapFailure(suite, built.code ?? built.signal, built.output));
    const filtered = path.join(work, "rootfs-nodev.tar");
    const input = await fs.open(rootfs, "r");
    const output = await fs.open(filtered, "wx");
    try {
      await runToolOk("mmtarfilter", TAR_FILTER, { timeoutMs: BUILD_TIMEOUT_MS, stdin: input.fd, stdout: output.fd });
    } finally {
      await input.close();
      await output.close();
    }
    await writeOneLayerArchive(filtered, path.join(work, "layer.tar.gz"), archive, refName);
  } finally {
    await removeDir(work);
  }
}

/** What went wrong, in the words of what to do about it: no network is the likely cause on a test machine. */
function mmdebstrapFailure(suite: RuntimeSuite, exit: number | string | null, output: string): string {
  const unreachable = /Temporary failure resolving|Could not resolve|Could not connect|Failed to fetch|Network is unreachable|Connection (timed out|refused)/i.test(output);
  const why = unreachable
    ? `${MIRROR} is not reachable from this machine (the build downloads Debian's python3 packages from it)`
    : (process.getuid?.() ?? 0) !== 0
      ? "it runs best as root (CI runs the tests as root)"
      : "see its output below";
  return `building the ${suite} runtime image for the export tests: mmdebstrap failed (exit ${exit}): ${why}\n--- mmdebstrap output (end)\n${output.slice(-8000)}`;
}

/**
 * `rootfs` (an uncompressed tar) as an oci-archive with one gzip layer. The
 * gzip header of node's zlib holds no time or name, so the same tar gives
 * the same layer, config, manifest and archive bytes.
 */
async function writeOneLayerArchive(rootfs: string, layerFile: string, archive: string, refName: string): Promise<void> {
  const uncompressed = new Sha256Tap();
  const compressed = new Sha256Tap();
  await pipeline(createReadStream(rootfs, { highWaterMark: 1 << 20 }), uncompressed, createGzip({ level: GZIP_LEVEL, chunkSize: zlibConstants.Z_DEFAULT_CHUNK * 16 }), compressed, createWriteStream(layerFile, { flags: "wx" }));
  const created = new Date(SOURCE_DATE_EPOCH * 1000).toISOString().replace(/\.000Z$/, "Z");
  const config = {
    created,
    architecture: "amd64",
    os: "linux",
    config: IMAGE_CONFIG,
    rootfs: { type: "layers", diff_ids: [uncompressed.counter.digest()] },
    history: [{ created, created_by: `mmdebstrap --variant=extract --include=${PACKAGES} (pypakr test/support/runtime-images.ts)` }],
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_MANIFEST,
      config: { mediaType: MEDIA_TYPE_CONFIG, digest: sha256Digest(configBytes), size: configBytes.length },
      layers: [{ mediaType: MEDIA_TYPE_LAYER_GZIP, digest: compressed.counter.digest(), size: compressed.counter.size }],
    }),
  );
  const manifestDigest = sha256Digest(manifestBytes);
  await writeBlobsArchive(
    archive,
    manifestDigest,
    [
      { digest: manifestDigest, bytes: manifestBytes },
      { digest: sha256Digest(configBytes), bytes: configBytes },
      { digest: compressed.counter.digest(), file: layerFile },
    ],
    refName,
  );
}
