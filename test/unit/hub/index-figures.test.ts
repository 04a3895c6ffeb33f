/**
 * The hub index's figure script (bench/lib/hub-index-figures.ts), scaled down
 * to 100 repositories so the suite stays quick: it fills an index file and
 * every read it times does real work. The full figure (1,000 repositories)
 * is `node dist/bench/lib/hub-index-figures.js`; the bound here only catches
 * a read gone pathological, not a slow machine.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatFigures, measureHubIndex } from "../../../bench/lib/hub-index-figures.js";

test("100 repositories × 3 tags × 30 distributions: every read returns rows, well inside the search budget", async (t) => {
  const figures = await measureHubIndex({ repositories: 100, tagsPerRepository: 3, distributionsPerTag: 30, runs: 30 });
  t.diagnostic(formatFigures(figures));
  assert.deepEqual(figures.counts, { repositories: 100, tags: 300, distributions: 9000 });
  for (const read of figures.reads) {
    if (read.name.includes("no-such-thing")) assert.equal(read.rows, 0, read.name);
    else assert.ok(read.rows > 0, `${read.name} returned no rows`);
    assert.ok(read.p95 < 100, `${read.name}: p95 ${read.p95} ms`);
  }
});
