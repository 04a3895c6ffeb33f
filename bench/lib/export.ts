/**
 * The export rows (issue 14): `pypakr export` of a Flask + gunicorn app
 * (offline, from real wheels) onto a Debian bookworm runtime built from
 * Debian's packages, side by side with the image a Dockerfile makes of the
 * same app on the same runtime (see oci-peer.ts), as root:
 *
 * - time: `pypakr export` onto a runtime it has not seen (its Python probed:
 *   PYPAKR_HOME/runtimes removed before each run) and again (remembered);
 *   `pypakr create-image` of the app; the peer's build (venv + pip install +
 *   its two layers);
 * - size: the exported image's layers against the runtime's plus the pypakr
 *   image's, and against the peer's; the bytes a second app that shares
 *   Flask sends to a registry that has the first (from layer digests);
 * - cold start under runc, from `runc run` to the first HTTP 200: the
 *   exported image (no bytecode), the same with bytecode compiled into it by
 *   hand, and the peer (pip's bytecode).
 *
 * The runtime and the wheels come from the export tests' own helpers
 * (test/support/runtime-images.ts, wheels.ts, built into dist/test), so the
 * bench and the tests share one cache of each.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { freePort } from "../../test/support/helpers.js";
import { unpackBundle } from "../../test/support/runc.js";
import { runtimeImage } from "../../test/support/runtime-images.js";
import { flaskGunicornApp, writeAppSource, type AppSpec } from "../../test/support/serve-apps.js";
import { downloadedWheels } from "../../test/support/wheels.js";
import { treeSize } from "./fixtures.js";
import { compare, type Comparison, type Measurement } from "./measure.js";
import { APP_VENV, bytesToSend, imageBlobs, layerBytes, preparePeerBuild, runcColdStart, type ImageBlobs } from "./oci-peer.js";
import { CLI, PYPAKR_HOME, SCRATCH } from "./paths.js";
import { benchEnv, run, timeSteps, tryRun, type Step } from "./proc.js";
import { summarize } from "./stats.js";

const REQUIREMENTS = ["flask", "gunicorn>=26"];
/** The runtime's standard library (Debian bookworm's python3). */
const STDLIB = "/usr/lib/python3.11";
/** What the apps' setup and the peer's pip install. */
const INSTALL = ["flask", "gunicorn"];

export interface ExportRowsOptions {
  python: string;
  runs: number;
  log: (message: string) => void;
}

export interface ExportRowsResult {
  measurements: Measurement[];
  comparisons: Comparison[];
  sizes: Record<string, number | null>;
  fixture: { wheels: number; wheelBytes: number; referenceFiles: number; referenceBytes: number };
  notes: string[];
}

function onPath(tool: string): boolean {
  return tryRun({ cmd: "sh", args: ["-c", `command -v ${tool}`] }) !== null;
}

/** Why the export rows cannot run here, or null. */
export function exportUnavailable(): string | null {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) return `export rows skipped: they need root (runc runs the containers, mmdebstrap builds the runtime image); this runs as uid ${uid}`;
  const missing = ["mmdebstrap", "umoci", "runc", "bwrap"].filter((tool) => !onPath(tool));
  if (missing.length) return `export rows skipped: ${missing.join(", ")} not installed (apt-get install mmdebstrap umoci runc bubblewrap)`;
  if (tryRun({ cmd: CLI, args: ["export", "--help"] }) === null) return "export rows skipped: this pypakr has no export command";
  return null;
}

function newMeasurement(id: string, label: string, command: string): Measurement {
  return { id, label, command, samples: [], summary: null, failures: [] };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The same Flask and gunicorn (so the same distribution layers), another app file. */
function secondApp(wheels: string): AppSpec {
  const first = flaskGunicornApp({ findLinks: wheels });
  return {
    name: "flask-second",
    async write(dir) {
      await first.write(dir);
      fs.writeFileSync(path.join(dir, "app.py"), 'from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.route("/")\ndef second():\n    return "the second app\\n"\n');
    },
  };
}

/** One untimed warm-up, then `runs` timed runs of `once(index)`; a failed run is recorded and ends the row. */
function timeRow(m: Measurement, runs: number, once: (index: number) => number, log: (message: string) => void): void {
  for (let index = 0; index <= runs; index++) {
    try {
      const ms = once(index);
      if (index > 0) m.samples.push(ms);
    } catch (error) {
      m.failures.push(`${index === 0 ? "warm-up" : "timed run"}: ${errorText(error)}`);
      log(`${m.label} FAILED:\n${errorText(error)}`);
      return;
    }
  }
}

interface ColdSide {
  m: Measurement;
  bundle: string;
  port: number;
}

export async function measureExport(options: ExportRowsOptions): Promise<ExportRowsResult> {
  const { log, runs } = options;
  const env = benchEnv(options.python);
  const dir = path.join(SCRATCH, "export");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const notes: string[] = [];

  log("export: the bookworm runtime image (built once by mmdebstrap) and Flask + gunicorn wheels (downloaded once)");
  const [runtime, wheels] = await Promise.all([runtimeImage("bookworm"), downloadedWheels(REQUIREMENTS)]);
  const runtimeRef = `oci-archive:${runtime.archive}:${runtime.refName}`;
  const source = await writeAppSource(flaskGunicornApp({ findLinks: wheels }), path.join(dir, "flask-src"));
  const secondSource = await writeAppSource(secondApp(wheels), path.join(dir, "second-src"));
  const appFiles = (src: string) => ["app.py", "run"].map((name) => path.join(src, name));
  const wheelFiles = fs.readdirSync(wheels).filter((name) => name.endsWith(".whl"));

  const createImage = newMeasurement("export-create-image", "pypakr create-image (Flask + gunicorn)", "pypakr create-image -s SRC -i IMAGE.tar -t TAG");
  const exportFirst = newMeasurement("export-first", "pypakr export, runtime not seen before (Python probed)", "rm -rf PYPAKR_HOME/runtimes; pypakr export TAG --runtime oci-archive:RUNTIME -o OUT");
  const exportRepeat = newMeasurement("export-repeat", "pypakr export again (runtime's Python remembered)", "pypakr export TAG --runtime oci-archive:RUNTIME -o OUT");
  const peerBuild = newMeasurement("export-peer-build", "peer: venv + pip install + 2 layers (what the Dockerfile's RUN and COPY make)", "python -m venv; pip install --no-index --find-links W flask gunicorn; tar; umoci raw add-layer x2; umoci config");

  // The peer first, then pypakr: each create-image deletes a work venv, which slows whatever creates files next on some filesystems.
  log(`export: peer builds (${runs} runs after a warm-up)`);
  // Set by the last build (a holder: the closure's assignments would be lost on TypeScript's narrowing of plain variables).
  const last: { peer: ImageBlobs | null; layout: string; files: { files: number; bytes: number } } = { peer: null, layout: "", files: { files: 0, bytes: 0 } };
  timeRow(
    peerBuild,
    runs,
    (index) => {
      const build = preparePeerBuild(path.join(dir, `peer-${index}`), runtime.archive, runtime.refName, appFiles(source), options.python, wheels, INSTALL);
      const ms = timeSteps(build.steps, env);
      last.layout = build.layout;
      last.peer = imageBlobs(build.layout, build.tag);
      last.files = treeSize(path.join(dir, `peer-${index}`, "root", "app", "venv"));
      return ms;
    },
    log,
  );

  log(`export: pypakr create-image (${runs} runs after a warm-up)`);
  const tag = "bench-export-flask:1";
  const image = path.join(dir, "image.tar");
  timeRow(createImage, runs, (index) => timeSteps([{ cmd: CLI, args: ["create-image", "-q", "-s", source, "-i", index === runs ? image : path.join(dir, `image-${index}.tar`), "-t", tag] }], env), log);

  log(`export: pypakr export, first and repeat (${runs} runs each after a warm-up)`);
  const exportStep = (out: string): Step => ({ cmd: CLI, args: ["export", tag, "--runtime", runtimeRef, "-o", out, "-q"] });
  const exported = path.join(dir, "exported.tar");
  const runtimes = path.join(PYPAKR_HOME, "runtimes");
  for (let index = 0; index <= runs; index++) {
    // Round-robin: a first export (nothing remembered), then a repeat that finds its answer.
    const timed = (m: Measurement, out: string, before: () => void) => {
      if (m.failures.length) return;
      try {
        before();
        const ms = timeSteps([exportStep(out)], env);
        if (index > 0) m.samples.push(ms);
      } catch (error) {
        m.failures.push(`${index === 0 ? "warm-up" : "timed run"}: ${errorText(error)}`);
        log(`${m.label} FAILED:\n${errorText(error)}`);
      }
    };
    timed(exportFirst, path.join(dir, `first-${index}.tar`), () => fs.rmSync(runtimes, { recursive: true, force: true }));
    timed(exportRepeat, index === runs ? exported : path.join(dir, `repeat-${index}.tar`), () => {});
  }

  const sizes: Record<string, number | null> = {};
  const comparisons: Comparison[] = [];
  const { peer } = last;
  const haveExport = fs.existsSync(exported);
  const ours = haveExport ? imageBlobs(exported, "latest") : null;
  const runtimeBlobs = imageBlobs(runtime.archive, runtime.refName);
  const pypakrImage = fs.existsSync(image) ? imageBlobs(image) : null;
  sizes.exportedLayers = ours ? layerBytes(ours) : null;
  sizes.exportedArchive = haveExport ? fs.statSync(exported).size : null;
  sizes.runtimeLayers = layerBytes(runtimeBlobs);
  sizes.pypakrImageLayers = pypakrImage ? layerBytes(pypakrImage) : null;
  sizes.peerLayers = peer ? layerBytes(peer) : null;
  // The first layer each image adds to the runtime's: pypakr's venv skeleton, the peer's venv.
  sizes.exportedSkeleton = ours?.layers[runtimeBlobs.layers.length]?.size ?? null;
  sizes.peerVenvLayer = peer?.layers[runtimeBlobs.layers.length]?.size ?? null;

  // A second app sharing Flask: what a registry holding the first must receive.
  log("export: a second app with the same Flask and gunicorn, both ways");
  try {
    const secondTag = "bench-export-second:1";
    run({ cmd: CLI, args: ["create-image", "-q", "-s", secondSource, "-i", path.join(dir, "second-image.tar"), "-t", secondTag] }, env);
    const secondOut = path.join(dir, "second-exported.tar");
    run({ cmd: CLI, args: ["export", secondTag, "--runtime", runtimeRef, "-o", secondOut, "-q"] }, env);
    sizes.secondAppPypakrBytes = ours ? bytesToSend(ours, imageBlobs(secondOut, "latest")) : null;
  } catch (error) {
    notes.push(`export: the second app's pypakr export failed: ${errorText(error).split("\n")[0] ?? ""}`);
  }
  try {
    const build = preparePeerBuild(path.join(dir, "peer-second"), runtime.archive, runtime.refName, appFiles(secondSource), options.python, wheels, INSTALL);
    timeSteps(build.steps, env);
    sizes.secondAppPeerBytes = peer ? bytesToSend(peer, imageBlobs(build.layout, build.tag)) : null;
  } catch (error) {
    notes.push(`export: the second app's peer build failed: ${errorText(error).split("\n")[0] ?? ""}`);
  }

  const cold = {
    exported: newMeasurement("export-cold-exported", "cold start under runc: exported image (bytecode in its layers)", "runc run --detach; GET / every 2 ms until 200"),
    compiled: newMeasurement("export-cold-compiled", "cold start under runc: exported image + compileall again (check)", "the exported bundle after python3 -m compileall /app/venv as root; runc run --detach; GET /"),
    peer: newMeasurement("export-cold-peer", "cold start under runc: peer image (pip's bytecode)", "runc run --detach; GET / every 2 ms until 200"),
    peerAsBuilt: newMeasurement("export-cold-peer-as-built", "cold start under runc: peer image, runtime's stdlib without bytecode", "the peer on the runtime as mmdebstrap --variant=extract leaves it; runc run --detach; GET /"),
  };
  await measureColdStarts({ dir, runs, exported: haveExport ? exported : null, peerLayout: peer ? last.layout : null, cold, log });

  const measurements = [createImage, exportFirst, exportRepeat, peerBuild, cold.exported, cold.compiled, cold.peer, cold.peerAsBuilt];
  for (const m of measurements) m.summary = m.samples.length ? summarize(m.samples) : null;
  const median = (m: Measurement) => m.summary?.median ?? null;
  const sum = (a: number | null, b: number | null) => (a !== null && b !== null ? a + b : null);
  comparisons.push(
    compare("export-repeat-vs-peer", "export (repeat) vs the peer's build", "ms", median(exportRepeat), median(peerBuild), { metric: "ratio", op: "<=", value: 1 }),
    compare("export-first-vs-peer", "export (runtime probed) vs the peer's build", "ms", median(exportFirst), median(peerBuild), null),
    compare("export-create-and-repeat-vs-peer", "create-image + export (repeat) vs the peer's build", "ms", sum(median(createImage), median(exportRepeat)), median(peerBuild), null),
    compare("export-create-and-first-vs-peer", "create-image + export (runtime probed) vs the peer's build", "ms", sum(median(createImage), median(exportFirst)), median(peerBuild), null),
    compare("export-size-vs-parts", "exported image vs runtime + pypakr image (layers)", "bytes", sizes.exportedLayers, sum(sizes.runtimeLayers ?? null, sizes.pypakrImageLayers ?? null), null),
    compare("export-size-vs-peer", "exported image vs the peer image (layers)", "bytes", sizes.exportedLayers, sizes.peerLayers, { metric: "ratio", op: "<=", value: 1 }),
    compare("export-second-app-bytes", "a second app sharing Flask: bytes to a registry that has the first", "bytes", sizes.secondAppPypakrBytes, sizes.secondAppPeerBytes, { metric: "ratio", op: "<=", value: 0.1 }),
    compare("export-cold-vs-peer", "cold start under runc: exported vs peer", "ms", median(cold.exported), median(cold.peer), { metric: "difference", op: "<=", value: 50 }),
    compare("export-cold-compiled-vs-peer", "cold start under runc: exported + compileall vs peer", "ms", median(cold.compiled), median(cold.peer), null),
    compare("export-cold-bytecode-cost", "cold start under runc: exported vs exported + compileall again (0 if its bytecode serves)", "ms", median(cold.exported), median(cold.compiled), null),
    compare("export-cold-stdlib-bytecode-cost", "cold start under runc: peer, runtime as built vs stdlib compiled", "ms", median(cold.peerAsBuilt), median(cold.peer), null),
  );
  notes.push(
    `export: Flask + gunicorn (${wheelFiles.length} wheels, offline) onto ${path.basename(runtime.archive)} (Debian bookworm's python3 3.11, mmdebstrap, test/support/runtime-images.ts); ` +
      `the peer is the image of "FROM the runtime; RUN python -m venv /app/venv && /app/venv/bin/pip install --no-index --find-links W flask gunicorn; COPY app.py run /app/", built without an engine: ` +
      "the host's python makes the venv (the runtime's has no ensurepip), which is then pointed at the runtime's /usr/bin/python3; its layers are added by umoci.",
    `export: sizes are the manifests' layer sizes (compressed): exported ${sizes.exportedArchive ?? "-"} B as an archive, of which the venv skeleton layer (the base's pip and setuptools) ${sizes.exportedSkeleton ?? "-"} B; ` +
      `runtime ${sizes.runtimeLayers} B; pypakr image ${sizes.pypakrImageLayers ?? "-"} B (zstd); peer's venv layer ${sizes.peerVenvLayer ?? "-"} B; ` +
      "a second app's bytes are its manifest plus its config and layers the first image lacks.",
    "export targets: repeat export <= the peer's build; exported image <= the peer image; a second app sends <= 0.1x the peer's bytes; cold start <= peer + 50 ms.",
  );
  const wheelBytes = wheelFiles.reduce((total, name) => total + fs.statSync(path.join(wheels, name)).size, 0);
  fs.rmSync(dir, { recursive: true, force: true });
  return { measurements, comparisons, sizes, fixture: { wheels: wheelFiles.length, wheelBytes, referenceFiles: last.files.files, referenceBytes: last.files.bytes }, notes };
}

interface ColdOptions {
  dir: string;
  runs: number;
  exported: string | null;
  peerLayout: string | null;
  cold: { exported: Measurement; compiled: Measurement; peer: Measurement; peerAsBuilt: Measurement };
  log: (message: string) => void;
}

/**
 * Unpacks the bundles (untimed), then times their starts round-robin: one
 * warm-up each, then `runs`. mmdebstrap's extract variant runs no
 * maintainer script, so Debian's python3 is left without the stdlib
 * bytecode its postinst would compile (and python:3.11-slim ships): every
 * bundle but the "as built" one gets it first, as root, so the rows measure
 * the app's venv, not the runtime's missing bytecode.
 */
async function measureColdStarts({ dir, runs, exported, peerLayout, cold, log }: ColdOptions): Promise<void> {
  const sides: ColdSide[] = [];
  const compile = (rootfs: string, tree: string) => execFileSync("chroot", [rootfs, "/usr/bin/python3", "-m", "compileall", "-q", tree], { stdio: "ignore" });
  const bundle = async (m: Measurement, layout: string, refName: string, name: string, compiled: string[]) => {
    try {
      const port = await freePort();
      const target = path.join(dir, `bundle-${name}`);
      await unpackBundle(layout, refName, target, { name, port });
      // Bytecode written as root beside the sources: a check that the export's own bytecode layer already serves (compileall rewrites nothing valid).
      for (const tree of compiled) compile(path.join(target, "rootfs"), tree);
      sides.push({ m, bundle: target, port });
    } catch (error) {
      m.failures.push(`unpack: ${errorText(error)}`);
      log(`${m.label} FAILED:\n${errorText(error)}`);
    }
  };
  if (exported) {
    const layout = path.join(dir, "exported-layout");
    fs.mkdirSync(layout);
    execFileSync("tar", ["-xf", exported, "-C", layout]);
    await bundle(cold.exported, layout, "latest", "exported", [STDLIB]);
    await bundle(cold.compiled, layout, "latest", "compiled", [STDLIB, APP_VENV]);
  } else {
    for (const m of [cold.exported, cold.compiled]) m.failures.push("no exported image");
  }
  if (peerLayout) {
    await bundle(cold.peer, peerLayout, "peer", "peer", [STDLIB]);
    await bundle(cold.peerAsBuilt, peerLayout, "peer", "peer-as-built", []);
  } else {
    for (const m of [cold.peer, cold.peerAsBuilt]) m.failures.push("no peer image");
  }

  log(`export: cold starts under runc (${runs} runs each after a warm-up)`);
  for (let index = 0; index <= runs; index++) {
    for (const side of sides) {
      if (side.m.failures.length) continue;
      try {
        const ms = await runcColdStart(side.bundle, `bench-${path.basename(side.bundle)}-${process.pid}-${index}`, `http://127.0.0.1:${side.port}/`, path.join(dir, `${path.basename(side.bundle)}.log`));
        if (index > 0) side.m.samples.push(ms);
      } catch (error) {
        side.m.failures.push(`${index === 0 ? "warm-up" : "timed run"}: ${errorText(error)}`);
        log(`${side.m.label} FAILED:\n${errorText(error)}`);
      }
    }
  }
}
