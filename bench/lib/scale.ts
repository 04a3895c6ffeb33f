/**
 * The hostile-scale row: does the work of making a container grow linearly
 * with a layer's entries? A crafted layer of N/2 directories followed by N/2
 * files of the same names (each file replaces its directory) once cost
 * 100 s of CPU at 40,000 entries, quadratic in N. Here the same shape is
 * timed at two sizes ten times apart, and the time per entry compared: flat
 * means linear. GNU tar extracting the same layer is the physical reference
 * (it too must make and remove every directory).
 *
 * Each run starts from an empty store (a fresh PYPAKR_HOME holding only a
 * link to the bench's bases), so it pays what a first `create-container -i
 * IMAGE.tar` pays: reading and checking the archive, unpacking the layer,
 * planning and materializing.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { imageArchive, localPython } from "../../test/fixtures/hostile.js";
import { tarOf } from "../../test/support/tar.js";
import { compare, type Comparison, type Measurement } from "./measure.js";
import { CLI, PYPAKR_HOME, SCRATCH } from "./paths.js";
import { benchEnv, run, timeSteps } from "./proc.js";
import { summarize } from "./stats.js";

export interface ScaleResult {
  measurements: Measurement[];
  comparisons: Comparison[];
  note: string;
}

/** The crafted layer: `entries` in all, half directories, then files that replace them one by one. */
function dirsThenFiles(entries: number): Buffer {
  const half = Math.floor(entries / 2);
  const names = Array.from({ length: half }, (_, index) => `d${index}`);
  return tarOf([...names.map((name) => ({ name: `${name}/`, type: "directory" as const })), ...names.map((name) => ({ name }))], { gzip: true });
}

export function measureScale(python: string, sizes: readonly [number, number], runs: number, log: (message: string) => void): ScaleResult {
  const env = benchEnv(python);
  const scratch = path.join(SCRATCH, "scale");
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.mkdirSync(scratch, { recursive: true });
  const ctx = { python: localPython(python) };
  const measurements: Measurement[] = [];
  const medians = new Map<string, number>();
  for (const entries of sizes) {
    const layer = dirsThenFiles(entries);
    const image = path.join(scratch, `image-${entries}.tar`);
    const layerFile = path.join(scratch, `layer-${entries}.tar.gz`);
    fs.writeFileSync(image, imageArchive(ctx, [layer]));
    fs.writeFileSync(layerFile, layer);
    const cases: [string, string, (target: string) => number][] = [
      [
        `pypakr-${entries}`,
        `pypakr create-container, ${entries.toLocaleString("en")}-entry layer, empty store`,
        (target) => {
          const home = `${target}.home`;
          fs.mkdirSync(home, { recursive: true });
          fs.symlinkSync(path.join(PYPAKR_HOME, "bases"), path.join(home, "bases"));
          return timeSteps([{ cmd: CLI, args: ["create-container", "-i", image, "-c", target], env: { ...env, PYPAKR_HOME: home } }], env);
        },
      ],
      [
        `tar-${entries}`,
        `mkdir + tar -xzf of the same layer`,
        (target) => {
          fs.mkdirSync(target);
          return timeSteps([{ cmd: "tar", args: ["-xzf", layerFile, "-C", target] }], env);
        },
      ],
    ];
    for (const [id, label, once] of cases) {
      log(`scale: ${label}`);
      const samples: number[] = [];
      const failures: string[] = [];
      // One untimed warm-up, then the timed runs; each into a fresh path.
      for (let index = 0; index <= runs; index++) {
        const target = path.join(scratch, `${id}-${index}`);
        try {
          const ms = once(target);
          if (index > 0) samples.push(ms);
        } catch (error) {
          failures.push(error instanceof Error ? error.message : String(error));
          break;
        } finally {
          fs.rmSync(target, { recursive: true, force: true });
          fs.rmSync(`${target}.home`, { recursive: true, force: true });
        }
      }
      const summary = samples.length ? summarize(samples) : null;
      if (summary) medians.set(id, summary.median);
      measurements.push({ id, label, command: label, samples, summary, failures });
    }
  }
  const [small, large] = sizes;
  const perThousand = (id: string, entries: number) => {
    const ms = medians.get(id);
    return ms === undefined ? null : (ms / entries) * 1000;
  };
  const comparisons = [
    compare(
      "scale-per-entry",
      `pypakr create-container per 1,000 entries: ${large.toLocaleString("en")}-entry layer vs ${small.toLocaleString("en")}-entry layer (flat = linear)`,
      "ms",
      perThousand(`pypakr-${large}`, large),
      perThousand(`pypakr-${small}`, small),
      { metric: "ratio", op: "<=", value: 1.5 },
    ),
    compare("scale-vs-tar", `pypakr create-container vs tar -xzf, ${large.toLocaleString("en")}-entry layer`, "ms", medians.get(`pypakr-${large}`), medians.get(`tar-${large}`), null),
  ];
  run({ cmd: "rm", args: ["-rf", scratch] });
  return { measurements, comparisons, note: `scale: a layer of N/2 directories then N/2 files of the same names (each file replaces its directory), N = ${sizes.join(" and ")}; ${runs} timed runs after one warm-up, each from an empty store.` };
}
