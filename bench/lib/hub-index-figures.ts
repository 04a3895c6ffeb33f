/**
 * Figures of the hub's index alone (src/hub/index-db.ts, no HTTP): fill an
 * index file with repositories × tags × distributions shaped like a real
 * hub's (a few distributions in nearly every tag, a long tail of others,
 * several versions of each), then time the reads the pages make: search
 * (parse + query, as the server does), recent pushes, the repository list,
 * a repository page and a tag. The target is search p95 <= 20 ms
 * through HTTP; the index's share should be a few ms.
 *
 *   node dist/bench/lib/hub-index-figures.js [REPOSITORIES] [RUNS]
 *
 * (defaults 1000 and 200; 3 tags per repository, 30 distributions per tag).
 * A unit test runs it scaled down.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { HubIndex } from "../../src/hub/index-db.js";
import { parseSearchQuery } from "../../src/hub/search-query.js";
import { pypakrTag } from "../../test/support/hub-tags.js";

export interface HubIndexShape {
  repositories: number;
  tagsPerRepository: number;
  distributionsPerTag: number;
  /** Timed runs of each read. */
  runs: number;
}

export interface ReadFigure {
  name: string;
  p50: number;
  p95: number;
  /** Rows the read returned (the last run), to show it did real work. */
  rows: number;
}

export interface HubIndexFigures {
  shape: HubIndexShape;
  counts: { repositories: number; tags: number; distributions: number };
  fillMs: number;
  fileBytes: number;
  rssBytes: number;
  reads: ReadFigure[];
}

/** Distributions nearly every Python app holds; the worst case for a search by name. */
const COMMON = ["urllib3", "requests", "certifi", "idna", "charset-normalizer", "click", "flask", "jinja2", "markupsafe", "werkzeug", "packaging", "six"];
const TAIL = Array.from({ length: 300 }, (_, i) => `lib-${i}`);

/** A small seeded PRNG (mulberry32): the same index every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function versionOf(next: () => number): string {
  const major = Math.floor(next() * 4);
  const minor = Math.floor(next() * 12);
  const patch = Math.floor(next() * 25);
  return next() < 0.03 ? `${major}.${minor}.${patch}rc1` : `${major}.${minor}.${patch}`;
}

/** The tags of an index of this shape, in push order (deterministic). */
export function tagsOf(shape: HubIndexShape): Parameters<HubIndex["putTag"]>[0][] {
  const next = random(15);
  const tags = [];
  let minute = 0;
  for (let r = 0; r < shape.repositories; r++) {
    const repository = `team${r % 50}/app-${r}`;
    for (let t = 0; t < shape.tagsPerRepository; t++) {
      const names = new Set<string>();
      for (const name of COMMON) if (next() < 0.8) names.add(name);
      while (names.size < shape.distributionsPerTag) names.add(TAIL[Math.floor(next() * TAIL.length)] ?? "lib-0");
      const pins = [...names].slice(0, shape.distributionsPerTag).map((name) => `${name}==${versionOf(next)}`);
      minute += 1;
      tags.push(pypakrTag(repository, `1.${t}`, pins, { pushedAt: new Date(Date.UTC(2026, 0, 1) + minute * 60_000).toISOString() }));
    }
  }
  return tags;
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))] ?? Number.NaN;
}

function time(name: string, runs: number, read: (run: number) => number): ReadFigure {
  read(0); // warm
  const samples: number[] = [];
  let rows = 0;
  for (let run = 0; run < runs; run++) {
    const start = process.hrtime.bigint();
    rows = read(run);
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return { name, p50: percentile(samples, 0.5), p95: percentile(samples, 0.95), rows };
}

export async function measureHubIndex(shape: HubIndexShape): Promise<HubIndexFigures> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "pypakr-hub-index-"));
  const file = path.join(dir, "index.sqlite");
  try {
    const { fillMs, counts, reads } = fillAndRead(HubIndex.open(file), shape);
    let fileBytes = 0;
    for (const name of await fs.readdir(dir)) fileBytes += (await fs.stat(path.join(dir, name))).size;
    return { shape, counts, fillMs, fileBytes, rssBytes: process.memoryUsage().rss, reads };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

function fillAndRead(index: HubIndex, shape: HubIndexShape): Pick<HubIndexFigures, "fillMs" | "counts" | "reads"> {
  try {
    const tags = tagsOf(shape);
    const started = performance.now();
    // One transaction per tag, as the indexer writes.
    for (const tag of tags) index.putTag(tag);
    const fillMs = performance.now() - started;
    for (let r = 0; r < shape.repositories; r += 10) index.setDescription(`team${r % 50}/app-${r}`, `A *flask* service number ${r}`, `<p>A <em>flask</em> service number ${r}</p>`);

    const search = (q: string) => (run: number) => {
      const results = index.search(parseSearchQuery(run % 2 === 0 ? q : ` ${q}`), 50);
      return results.repositories.length + results.distributions.length;
    };
    // A long-tail distribution at one exact version: a handful of rows.
    const rareLayer = tags[Math.floor(tags.length / 2)]?.layers.findLast((layer) => layer.distribution !== undefined)?.distribution;
    const rare = `${rareLayer?.name ?? "lib-0"}==${rareLayer?.version ?? "0"}`;
    const middle = `team7/app-${Math.floor(shape.repositories / 2) - (Math.floor(shape.repositories / 2) % 50) + 7}`;
    const reads = [
      time('search "flask" (words + every version)', shape.runs, search("flask")),
      time('search "urllib3<2"', shape.runs, search("urllib3<2")),
      time('search "flask 3.1"', shape.runs, search("flask 3.1")),
      time('search "requests >=2.5,<3"', shape.runs, search("requests >=2.5,<3")),
      time(`search "${rare}" (rare)`, shape.runs, search(rare)),
      time('search "app" (prefix, every repository)', shape.runs, search("app")),
      time('search "team7/app-5" (name prefix)', shape.runs, search("team7/app-5")),
      time('search "service number"', shape.runs, search("service number")),
      time('search "no-such-thing"', shape.runs, search("no-such-thing")),
      time("recent(50)", shape.runs, () => index.recent(50).length),
      time("repositories(50, 0)", shape.runs, () => index.repositories(50, 0).length),
      time("repositories(50, last page)", shape.runs, () => index.repositories(50, Math.max(0, shape.repositories - 50)).length),
      time("repository(name)", shape.runs, () => index.repository(middle)?.tags.length ?? 0),
      time("tag(repository, tag)", shape.runs, () => index.tag(middle, "1.1")?.layers.length ?? 0),
    ];
    return { fillMs, counts: index.counts(), reads };
  } finally {
    index.close();
  }
}

export function formatFigures(figures: HubIndexFigures): string {
  const { shape, counts } = figures;
  const lines = [
    `hub index: ${counts.repositories} repositories, ${counts.tags} tags, ${counts.distributions} distributions (${shape.runs} runs per read)`,
    `fill (one transaction per tag): ${(figures.fillMs / 1000).toFixed(2)} s; file ${(figures.fileBytes / 1e6).toFixed(1)} MB; RSS ${(figures.rssBytes / 1e6).toFixed(0)} MB`,
    ...figures.reads.map((read) => `${read.name.padEnd(48)} p50 ${read.p50.toFixed(2).padStart(7)} ms  p95 ${read.p95.toFixed(2).padStart(7)} ms  rows ${read.rows}`),
  ];
  return lines.join("\n") + "\n";
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const repositories = Number(process.argv[2] ?? 1000);
  const runs = Number(process.argv[3] ?? 200);
  const figures = await measureHubIndex({ repositories, tagsPerRepository: 3, distributionsPerTag: 30, runs });
  process.stdout.write(formatFigures(figures));
}
