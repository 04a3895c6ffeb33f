/**
 * What a small crafted image may cost: entry caps (per layer, checked at
 * load and at unpack; per image, base included, checked when planning) and
 * work linear in entries. Everything runs through production's path
 * (test/support/assemble.ts). The time bounds are hang guards only, far
 * above what the work takes; bench/ measures the real figures.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { assembleLayers, assemblyWorkspace, containerPaths, EMPTY_BASE, type Assembly, type BaseEntrySpec } from "../../support/assemble.js";
import { tarOf, type TarEntry } from "../../support/tar.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";

let scratch = "";

before(async () => {
  scratch = await makeTempDir("pypakr-unit-limits-");
});

after(async () => {
  await removeDir(scratch);
});

function files(count: number, prefix = "f"): TarEntry[] {
  return Array.from({ length: count }, (_, index) => ({ name: `${prefix}${index}`, body: "x" }));
}

function describeResult(result: Assembly): string {
  return result.refusedAt === null ? "a container" : `a refusal at ${result.refusedAt}: ${result.error?.message ?? ""}`;
}

describe("entry caps", () => {
  const limits = { layerEntries: 100, imageEntries: 100 };

  test("a layer with as many entries as the layer cap allows is assembled", async () => {
    const ws = await assemblyWorkspace(scratch);
    const result = await assembleLayers({ ws, layers: [tarOf(files(100))], base: EMPTY_BASE, limits });
    assert.equal(result.refusedAt, null, describeResult(result));
    assert.equal((await containerPaths(ws.target)).length, 100);
  });

  for (const loadCheck of [true, false]) {
    test(`a layer with one entry more than the layer cap is refused ${loadCheck ? "when the image is loaded" : "when it is unpacked"}`, async () => {
      const ws = await assemblyWorkspace(scratch);
      const result = await assembleLayers({ ws, layers: [tarOf(files(101))], base: EMPTY_BASE, limits, loadCheck });
      assert.equal(result.refusedAt, loadCheck ? "load-check" : "unpack", describeResult(result));
      assert.match(result.error?.message ?? "", /^layer 1 \(sha256:[0-9a-f]{12}\) of test-image\.tar holds more than 100 entries; refusing it$/);
      assert.match(result.error?.hint ?? "", /PYPAKR_MAX_LAYER_ENTRIES/);
      assert.deepEqual(result.changedOutside, []);
    });
  }

  test("directories, links and whiteouts count toward the layer cap as files do", async () => {
    const ws = await assemblyWorkspace(scratch);
    const entries: TarEntry[] = [
      ...Array.from({ length: 40 }, (_, index): TarEntry => ({ name: `d${index}/`, type: "directory" })),
      ...Array.from({ length: 40 }, (_, index): TarEntry => ({ name: `l${index}`, type: "symlink", linkname: `d${index}` })),
      ...Array.from({ length: 21 }, (_, index): TarEntry => ({ name: `.wh.gone${index}` })),
    ];
    const result = await assembleLayers({ ws, layers: [tarOf(entries)], base: EMPTY_BASE, limits });
    assert.equal(result.refusedAt, "load-check", describeResult(result));
  });

  test("layers that each fit the layer cap but together pass the image cap are refused when planned", async () => {
    const ws = await assemblyWorkspace(scratch);
    const result = await assembleLayers({ ws, layers: [tarOf(files(60, "a")), tarOf(files(60, "b"))], base: EMPTY_BASE, limits });
    assert.equal(result.refusedAt, "plan", describeResult(result));
    assert.match(result.error?.message ?? "", /^the image and its base hold more than 100 entries; refusing it$/);
    assert.match(result.error?.hint ?? "", /PYPAKR_MAX_IMAGE_ENTRIES/);
    assert.equal(result.tree, null, "nothing was written");
  });

  test("the base's entries count toward the image cap", async () => {
    const base = (count: number) => ({ entries: Array.from({ length: count }, (_, index): BaseEntrySpec => ({ path: `base${index}`, type: "file" })) });
    const over = await assemblyWorkspace(scratch);
    const refused = await assembleLayers({ ws: over, layers: [tarOf(files(50))], base: base(51), limits });
    assert.equal(refused.refusedAt, "plan", describeResult(refused));
    const exact = await assemblyWorkspace(scratch);
    const made = await assembleLayers({ ws: exact, layers: [tarOf(files(50))], base: base(50), limits });
    assert.equal(made.refusedAt, null, describeResult(made));
  });
});

describe("work linear in entries", () => {
  const COUNT = 20_000;
  // Hang guards in CPU milliseconds, a few times what a loaded 2-core CI machine takes; the quadratic code took minutes.
  const GUARD = { "load-check": 20_000, unpack: 60_000, plan: 20_000 } as const;
  let fast = "";

  // What is measured is pypakr's work, not the disk: on a busy disk 40,000 small writes alone can take a minute.
  before(async () => {
    fast = await fs.mkdtemp("/dev/shm/pypakr-unit-limits-").catch(() => makeTempDir("pypakr-unit-limits-"));
  });

  after(async () => {
    await removeDir(fast);
  });

  function report(result: Assembly): string {
    const round = (times: Partial<Record<string, number>>) => JSON.stringify(Object.fromEntries(Object.entries(times).map(([stage, ms]) => [stage, Math.round(ms ?? 0)])));
    return `ms on the clock ${round(result.timings)}, of CPU ${round(result.cpu)}`;
  }

  /** CPU time, not the clock: a loaded CI machine stretches the clock far more than the work. */
  function assertWithinGuards(result: Assembly): void {
    for (const [stage, limit] of Object.entries(GUARD) as [keyof typeof GUARD, number][]) assert.ok((result.cpu[stage] ?? 0) < limit, `${stage} took too long: ${report(result)}`);
  }

  // Replacing a directory by a file once scanned every path the extractor or the plan knew: minutes for this layer.
  test(`a layer of ${COUNT} directories and then ${COUNT} files of the same names is checked, unpacked and planned in linear time`, async (t) => {
    const ws = await assemblyWorkspace(fast);
    const entries: TarEntry[] = [
      ...Array.from({ length: COUNT }, (_, index): TarEntry => ({ name: `d${index}/`, type: "directory" })),
      ...Array.from({ length: COUNT }, (_, index): TarEntry => ({ name: `d${index}`, body: "" })),
    ];
    const result = await assembleLayers({ ws, layers: [tarOf(entries, { gzip: true })], base: EMPTY_BASE, until: "plan" });
    assert.equal(result.refusedAt, null, describeResult(result));
    t.diagnostic(report(result));
    assertWithinGuards(result);
  });

  test(`layers replacing a lower layer's ${COUNT / 2} directories by files, then hiding them all, are planned in linear time`, async (t) => {
    const ws = await assemblyWorkspace(fast);
    const count = COUNT / 2;
    const dirs = Array.from({ length: count }, (_, index): TarEntry => ({ name: `d${index}/`, type: "directory" }));
    const replacing = Array.from({ length: count }, (_, index): TarEntry => ({ name: `d${index}`, body: "" }));
    const hiding = Array.from({ length: count }, (_, index): TarEntry => ({ name: `.wh.d${index}` }));
    const result = await assembleLayers({ ws, layers: [dirs, replacing, hiding].map((layer) => tarOf(layer, { gzip: true })), base: EMPTY_BASE, until: "plan" });
    assert.equal(result.refusedAt, null, describeResult(result));
    t.diagnostic(report(result));
    assertWithinGuards(result);
  });
});
