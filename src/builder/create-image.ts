/**
 * `create-image`: source -> work env (a copy of the base at a fixed-length
 * path) -> setup -> diff against the base -> layers -> OCI image archive.
 */
import { count } from "../util/plural.js";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { type Base, ensureBase, planVenv } from "../base/index.js";
// The work env is a venv made of the base alone, written as create-container writes one:
// builder sits above container/ and uses its face for that (see README, Development).
import { materializeVenv } from "../container/index.js";
import { ConfinedTree } from "../util/confined-tree.js";
import { checkOutputFile, type Config, tmpDir } from "../config/index.js";
import { type Compression, type Distribution, ENVIRONMENT_NAME, type ImageConfig, imageConfigSchema, ociArchitecture, PLACEHOLDER, PREFIX_LENGTH, PYPAKR_FORMAT_VERSION, unsafePrefixReason, writeImageArchive, writeLayer, type WrittenImage, type WrittenLayer } from "../image/index.js";
import { describeSchemaError } from "../util/json.js";
import { describeInterpreter, majorMinor, pythonIdentity } from "../python/index.js";
import { PypakrError } from "../util/errors.js";
import { cleanupOnInterrupt, lstatOrNull, removeDeadTemp, removeTree } from "../util/fs.js";
import { progress } from "../util/log.js";
import { ancestors } from "../util/path-map.js";
import { tempName } from "../util/temp-names.js";
import { forEachLimited } from "../util/pool.js";
import { diffWorkEnv, type Change } from "./diff.js";
import { install } from "./install.js";
import { originFor, readInstallReport } from "./origins.js";
import { planLayers } from "./layers.js";
import { describeLeftOut, IGNORE_FILE, type SourceRules } from "./pypakrignore.js";
import { placeSource, readSource } from "./source.js";
import { addImageArchive, Store } from "../store/index.js";

export interface CreateImageOptions {
  source: string;
  image: string;
  tag?: string;
  python?: string;
  environment?: Record<string, string>;
  /** How layers are compressed (default zstd:10). */
  compression?: Compression;
}

export interface CreatedImage extends WrittenImage {
  file: string;
  layers: WrittenLayer[];
  distributions: Distribution[];
}

const WORK_NAME = "pypakr-build-";
const SCRATCH_NAME = "scratch-";

/**
 * Work envs and scratch dirs are named after their process (tempName), so a
 * build removes what killed builds left (as gc does): a work env is a whole
 * venv, too big to leave lying around.
 */
async function removeDeadBuilds(config: Config): Promise<void> {
  await removeDeadTemp(tmpDir(config), SCRATCH_NAME);
  for (const root of new Set([tmpDir(config), os.tmpdir()])) await removeDeadTemp(root, WORK_NAME);
}

/**
 * The build runs at a path exactly PREFIX_LENGTH long (padded with `_`), so
 * turning it into the placeholder never moves a byte in a binary file. It
 * goes under pypakr's own tmp dir (same filesystem as the base, for reflinks)
 * when that is short enough, else under the system's.
 */
async function makeWorkPath(config: Config): Promise<string> {
  for (const root of [tmpDir(config), os.tmpdir()]) {
    await fs.mkdir(root, { recursive: true });
    const real = await fs.realpath(root);
    const stem = path.join(real, tempName(WORK_NAME));
    // pip's script headers name the work env inside "...": a path venv cannot hold is no place to build.
    if (stem.length > PREFIX_LENGTH || unsafePrefixReason(stem)) continue;
    const workEnv = stem.padEnd(PREFIX_LENGTH, "_");
    await fs.mkdir(workEnv);
    return workEnv;
  }
  throw new PypakrError(`no temporary directory with a path shorter than ${PREFIX_LENGTH - 30} characters and without ", $, \`, \\ or line breaks`, { code: "unsafe-path", hint: "Set TMPDIR to a short plain path such as /tmp." });
}

/**
 * The image's creation time: SOURCE_DATE_EPOCH when set (the reproducible-
 * builds convention), else the Unix epoch, as ko and Bazel do. A wall-clock
 * time would make every rebuild of the same source a different image; when an
 * image was stored is the store's business, not the image's.
 */
function createdTime(): string {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && !/^\d+$/.test(epoch)) {
    throw new PypakrError(`SOURCE_DATE_EPOCH="${epoch}" is not a number of seconds`, { code: "bad-config", hint: "Set it to an integer such as $(git log -1 --format=%ct), or unset it." });
  }
  return new Date(Number(epoch ?? 0) * 1000).toISOString();
}

async function checkOutput(image: string): Promise<void> {
  const stat = await fs.stat(path.dirname(image)).catch(() => null);
  if (!stat?.isDirectory()) throw new PypakrError(`cannot write ${image}: directory ${path.dirname(image)} does not exist`, { code: "target-unusable", hint: "Create the directory first, or write the image elsewhere." });
  const existing = await lstatOrNull(image);
  if (existing?.isDirectory()) throw new PypakrError(`cannot write ${image}: it is a directory`, { code: "target-unusable", hint: "Name the image file, e.g. -i IMAGE.tar" });
}

/**
 * The image's environment must pass the schema every reader applies
 * (format.ts), so an image pypakr writes is one pypakr reads back.
 */
function checkEnvironment(environment: Record<string, string>): void {
  for (const [name, value] of Object.entries(environment)) {
    if (!ENVIRONMENT_NAME.test(name)) {
      throw new PypakrError(`environment variable name ${JSON.stringify(name)} is not usable: a name holds only letters, digits and _, and does not start with a digit`, { code: "bad-env-var", hint: "Rename the variable, e.g. --env MY_SETTING=value." });
    }
    if (value.includes("\0")) throw new PypakrError(`environment variable ${name} holds a NUL character, which no environment can carry`, { code: "bad-env-var", hint: "Remove the NUL from its value." });
  }
}

function imageConfig(base: Base, layers: WrittenLayer[], distributions: Distribution[], changes: Change[], options: CreateImageOptions, hasRun: boolean): ImageConfig {
  const python = pythonIdentity(base.python);
  const environment = options.environment ?? {};
  const entrypoint = hasRun ? ["./run"] : [];
  const created = createdTime();
  const relocated = changes.flatMap((change) => (change.type === "file" && change.relocate ? [{ path: change.path, kind: change.relocate }] : []));
  return {
    created,
    architecture: ociArchitecture(python.machine),
    os: python.os,
    config: {
      Env: Object.entries(environment).map(([key, value]) => `${key}=${value}`),
      Entrypoint: entrypoint,
      Labels: { "org.pypakr.python": `${python.implementation}-${majorMinor(python.version)}${python.abiFlags}`, "org.pypakr.base": base.kind },
    },
    rootfs: { type: "layers", diff_ids: layers.map((layer) => layer.diffId) },
    pypakr: {
      formatVersion: PYPAKR_FORMAT_VERSION,
      python,
      base: { kind: base.kind, manifestDigest: base.manifestDigest },
      entrypoint,
      environment,
      distributions,
      relocation: { placeholder: PLACEHOLDER, files: relocated.sort((a, b) => (a.path < b.path ? -1 : 1)) },
      created,
    },
  };
}

/**
 * The config, held to the same schema every reader holds it to: a build
 * must never write an image that load, pull or create-container would
 * refuse (say a distribution whose METADATA names it with a space).
 */
function checkedConfig(config: ImageConfig): ImageConfig {
  const parsed = imageConfigSchema.safeParse(config);
  if (parsed.success) return config;
  throw new PypakrError(`the build cannot be made into an image: its config would be malformed (${describeSchemaError(parsed.error)})`, {
    code: "build-not-packable",
    hint: "Fix what the source or setup installed (the value named above), then build again.",
  });
}

/**
 * What setup left among the app's files, less what .pypakrignore leaves out:
 * `pip install .` of a setuptools project leaves build/ and *.egg-info in the
 * source's folder, and they belong in no image. The rules apply only outside
 * the venv's own top-level names (bin, lib, ...): `build/` must not match a
 * package's build subpackage in site-packages.
 */
function withoutLeftOut(changes: Change[], base: Base, rules: SourceRules): Change[] {
  const venvNames = new Set(base.entries.map((entry) => entry.path.split("/")[0]));
  const isApp = (change: Change) => change.type !== "whiteout" && !venvNames.has(change.path.split("/")[0]);
  const leftOut = rules.topmostLeftOut(changes.filter(isApp).map((change) => ({ path: change.path, dir: change.type === "dir" })));
  if (leftOut.length === 0) return changes;
  progress(`left out of the image what setup made (${IGNORE_FILE}): ${describeLeftOut(leftOut)}`);
  const out = new Set(leftOut);
  return changes.filter((change) => !isApp(change) || ![...ancestors(change.path), change.path].some((place) => out.has(place)));
}

/**
 * Starts removing `dir` and returns how to wait for it. A failure surfaces
 * when waited for, not as an unhandled rejection in the meantime.
 */
function startRemoving(dir: string): () => Promise<void> {
  const removal = removeTree(dir);
  removal.catch(() => undefined);
  return () => removal;
}

export async function createImage(config: Config, options: CreateImageOptions): Promise<CreatedImage> {
  const source = path.resolve(options.source);
  const target = path.resolve(options.image);
  checkEnvironment(options.environment ?? {});
  await checkOutput(target);
  await checkOutputFile(config, target, "-i");
  await fs.access(source).catch(() => {
    throw new PypakrError(`source ${source} does not exist`, { code: "source-invalid", hint: "Pass a directory or a .tar/.tar.gz file with -s." });
  });
  await removeDeadBuilds(config);
  const scratch = path.join(tmpDir(config), tempName(SCRATCH_NAME));
  const forget = [cleanupOnInterrupt(scratch)];
  let removeWorkEnv = (): Promise<void> => Promise.resolve();
  try {
    await fs.mkdir(path.join(scratch, "source"), { recursive: true });
    // The source first: a bad or empty one costs no base and no work env.
    const sourceTree = await readSource(source, path.join(scratch, "source"));
    const base = await ensureBase(config, options.python ?? config.python);
    const workEnv = await makeWorkPath(config);
    forget.push(cleanupOnInterrupt(workEnv));
    removeWorkEnv = () => removeTree(workEnv);
    // Copies (reflinks where possible), never links: setup may change any file in place.
    materializeVenv(planVenv(base, [], { files: new Map(), placeholder: PLACEHOLDER }), new ConfinedTree(workEnv), workEnv, { link: "copy" });
    const files = await placeSource(sourceTree, workEnv);
    if (sourceTree.leftOut.length > 0) progress(`left out of the image (${IGNORE_FILE}): ${describeLeftOut(sourceTree.leftOut)}`);
    progress(`building on ${describeInterpreter(base.python)}`);
    // In the scratch dir: nothing of it may land in the work env, whose every new file goes into the image.
    const reportFile = path.join(scratch, "pip-report.json");
    await install(workEnv, files, reportFile);
    const origins = await readInstallReport(reportFile);
    progress("comparing with the base");
    const diff = await diffWorkEnv(workEnv, base);
    const changes = withoutLeftOut(diff.changes, base, sourceTree.rules);
    const planned = await planLayers(workEnv, { ...diff, changes });
    progress(`writing ${count(planned.length, "layer")}`);
    // Layers compress in parallel: zlib and zstd work in libuv's thread pool. Two
    // layers per core, because each layer also spends time on the main thread
    // (reading and packing its files), when its core would otherwise idle.
    const layers: WrittenLayer[] = new Array<WrittenLayer>(planned.length);
    await forEachLimited([...planned.keys()], 2 * os.availableParallelism(), async (index) => {
      layers[index] = await writeLayer(planned[index]?.entries ?? [], path.join(scratch, `layer-${index}`), options.compression);
    });
    // Everything the image needs from the work env is in the layers now: deleting
    // its thousands of files overlaps with writing the archive.
    removeWorkEnv = startRemoving(workEnv);
    const distributions: Distribution[] = planned.flatMap((layer, index) => {
      if (!layer.distribution) return [];
      const origin = originFor(origins, layer.distribution.name, layer.distribution.version);
      return [{ ...layer.distribution, layer: (layers[index] as WrittenLayer).digest, ...(origin ? { origin } : {}) }];
    });
    const written = await writeImageArchive(target, checkedConfig(imageConfig(base, layers, distributions, changes, options, files.run)), layers, options.tag);
    if (options.tag) {
      // Tagged images go into the store too, as docker build -t does.
      await addImageArchive(await Store.open(config), target, { tag: options.tag });
      progress(`stored as ${options.tag}`);
    }
    return { ...written, file: target, layers, distributions };
  } finally {
    forget.forEach((done) => done());
    await Promise.all([removeWorkEnv(), removeTree(scratch)]);
  }
}
