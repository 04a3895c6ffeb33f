/**
 * The hub rows (issue 15): `pypakr hub` beside Debian's docker-registry,
 * over a generated corpus (hub-corpus.ts: 1,000 repositories × 3 tags of
 * pypakr-shaped images; 200 with --quick) pushed over HTTP with the
 * registry's notifications pointed at the hub, so the index is built from
 * events as it would be in use. All on 127.0.0.1.
 *
 * - page latency: autocannon at 4 connections, a bounded number of GETs per
 *   kind of page (home, repository, tag, tag diff, /search) and for
 *   /api/search, each request timed (autocannon's own histogram keeps whole
 *   milliseconds); p95 of the HTML pages together and of the two searches;
 * - push → searchable: a real `pypakr push` of a real image (built by
 *   create-image, one distribution) to a new repository, while /api/search
 *   is polled for it every 20 ms: time from starting the push to the first
 *   answer that lists it;
 * - the hub's RSS (VmHWM and VmRSS from /proc) after all of that;
 * - the peer: the same distribution query answered the way a front end
 *   without an index must, by walking the registry (_catalog, each tag list,
 *   each manifest and config).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import autocannon from "autocannon";
import { satisfies } from "@renovatebot/pep440";
import { freePort } from "../../test/support/helpers.js";
import { inParallel } from "../../test/support/hub-images.js";
import { startHubRegistry, type HubRegistry } from "../../test/support/hub-registry.js";
import { REGISTRY_BINARY } from "../../test/support/registry.js";
import { appImage, helloApp } from "../../test/support/serve-apps.js";
import { makeCorpus, pushCorpus, type Corpus } from "./hub-corpus.js";
import { compare, type Comparison, type Measurement } from "./measure.js";
import { CLI, SCRATCH } from "./paths.js";
import { benchEnv, tryRun } from "./proc.js";
import { imageMaker } from "./serve.js";
import { exitOf, pollFirstByte, stopChild, tailOf } from "./serving.js";
import { summarize } from "./stats.js";

export interface HubOptions {
  python: string;
  quick: boolean;
  /** Push → searchable runs. */
  runs: number;
  log: (message: string) => void;
}

export interface HubResult {
  measurements: Measurement[];
  comparisons: Comparison[];
  sizes: Record<string, number | null>;
  notes: string[];
}

/** Why the hub rows cannot run here, or null. */
export function hubUnavailable(): string | null {
  if (!fs.existsSync(REGISTRY_BINARY)) return "hub rows skipped: Debian's docker-registry is not installed (apt-get install docker-registry)";
  if (tryRun({ cmd: CLI, args: ["hub", "--help"] }) === null) return "hub rows skipped: this pypakr has no hub command";
  return null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function newMeasurement(id: string, label: string, command: string): Measurement {
  return { id, label, command, samples: [], summary: null, failures: [] };
}

/** The value below which `fraction` of the samples lie (nearest rank). */
function percentile(samples: readonly number[], fraction: number): number | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] ?? null;
}

/** A repository path as the hub's URLs take it: each segment encoded. */
const repoPath = (repository: string) => repository.split("/").map(encodeURIComponent).join("/");

/** `pypakr hub` on 127.0.0.1:port, its tokens from the environment. */
class Hub {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly output: () => string,
  ) {}

  static async start(registryUrl: string, port: number, data: string, env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<Hub> {
    // No periodic reconcile: one walking the registry in the middle of a timed load would make its figures depend on when it fell.
    const child = spawn(CLI, ["hub", "--registry", registryUrl, "--listen", `127.0.0.1:${port}`, "--data", data, "--reconcile-interval", "off"], { env, stdio: ["ignore", "pipe", "pipe"] });
    const hub = new Hub(child, `http://127.0.0.1:${port}`, tailOf(child));
    const exited = exitOf(child).then(({ code, signal }) => {
      throw new Error(`pypakr hub exited (${signal ?? `code ${code}`}) before it answered\n${hub.output()}`);
    });
    try {
      await Promise.race([pollFirstByte(`${hub.url}/-/health`, Date.now() + timeoutMs), exited]);
    } catch (error) {
      await hub.stop();
      throw error;
    }
    exited.catch(() => {});
    return hub;
  }

  /** The launcher execs node, so the child's pid is the server's. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  async get(urlPath: string, timeoutMs = 10_000): Promise<Response> {
    return fetch(`${this.url}${urlPath}`, { signal: AbortSignal.timeout(timeoutMs) });
  }

  stop(): Promise<void> {
    return stopChild(this.child, 10_000);
  }
}

/** VmHWM and VmRSS of a process, in bytes (null where /proc cannot say). */
function memoryOf(pid: number | undefined): { peak: number | null; now: number | null } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const field = (name: string) => {
      const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status);
      return match ? Number(match[1]) * 1024 : null;
    };
    return { peak: field("VmHWM"), now: field("VmRSS") };
  } catch {
    return { peak: null, now: null };
  }
}

/**
 * Waits until the hub's /-/health counts every tag of the corpus and has no
 * event left to index, then checks a sample of tags through the API (the
 * first and last pushed); throws after `timeoutMs`.
 */
async function untilIndexed(hub: Hub, corpus: Corpus, timeoutMs: number): Promise<{ failures: unknown }> {
  const deadline = Date.now() + timeoutMs;
  let health: { tags?: number; pending?: number; failures?: unknown } = {};
  for (;;) {
    const response = await hub.get("/-/health").catch(() => null);
    if (response?.ok) health = (await response.json()) as typeof health;
    else await response?.body?.cancel();
    if ((health.tags ?? 0) >= corpus.tags.length && health.pending === 0) break;
    if (Date.now() > deadline) throw new Error(`the hub indexed ${health.tags ?? "?"} of ${corpus.tags.length} tags (${health.pending ?? "?"} pending) in ${timeoutMs / 1000} s\n${hub.output()}`);
    await sleep(200);
  }
  for (const item of [corpus.tags[0], corpus.tags.at(-1)]) {
    if (!item) continue;
    const response = await hub.get(`/api/repositories/${repoPath(item.repository)}/-/tags/${encodeURIComponent(item.tag)}`);
    const tag = (await response.json()) as { layers?: unknown[] };
    if (!response.ok || tag.layers?.length !== item.image.layers.length) throw new Error(`the hub's ${item.repository}:${item.tag} (${response.status}) lists ${tag.layers?.length ?? "no"} layers, the image has ${item.image.layers.length}`);
  }
  return { failures: health.failures };
}

interface Timed {
  /** Each 2xx answer's time from sending to the end of the answer, in ms. */
  samples: number[];
  failed: number;
  failures: string;
}

/**
 * autocannon over `paths` (each connection goes through the list in turn),
 * `amount` requests in all at `connections` connections, cut off by an
 * outer timer if it overruns; times every answer itself.
 */
function timedLoad(base: string, paths: string[], amount: number, connections: number): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const samples: number[] = [];
    const statuses = new Map<number, number>();
    const instance = autocannon(
      { url: base, connections, amount, timeout: 10, requests: paths.map((urlPath) => ({ method: "GET" as const, path: urlPath })) },
      (error, result) => {
        clearTimeout(guard);
        if (error) return reject(error instanceof Error ? error : new Error(String(error)));
        const other = [...statuses].map(([status, count]) => `${status}: ${count}`);
        if (result.errors > 0) other.push(`errors: ${result.errors} (timeouts: ${result.timeouts})`);
        resolve({ samples, failed: result.errors + result.non2xx, failures: other.join(", ") });
      },
    );
    instance.on("response", (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) samples.push(ms);
      else statuses.set(status, (statuses.get(status) ?? 0) + 1);
    });
    const guard = setTimeout(() => instance.stop(), 120_000);
  });
}

/** The pages measured, by kind: URL paths over the corpus, picked evenly. */
type PageKind = "home" | "repository" | "tag" | "diff" | "searchPage" | "searchApi";

function pagePaths(corpus: Corpus, count: number): Record<PageKind, string[]> {
  const step = Math.max(1, Math.floor(corpus.repositories.length / count));
  const repositories = corpus.repositories.filter((_, index) => index % step === 0).slice(0, count);
  const queries = ["flask", "flask 3.1", "urllib3<2", "urllib3 <2,>=1.26", "requests==2.32.3", "numpy 2", "pydantic>=2", "payments", "cedar", "svc-0042", "boto3", "sqlalchemy 1.4"];
  const q = (query: string) => encodeURIComponent(query);
  return {
    home: ["/"],
    repository: repositories.map((name) => `/r/${repoPath(name)}`),
    tag: repositories.map((name, index) => `/r/${repoPath(name)}/-/tags/${1 + (index % 3)}`),
    diff: repositories.map((name) => `/r/${repoPath(name)}/-/diff?from=1&to=3`),
    searchPage: queries.map((query) => `/search?q=${q(query)}`),
    searchApi: queries.map((query) => `/api/search?q=${q(query)}`),
  };
}

const KINDS: { key: PageKind; label: string; html: boolean; search: boolean }[] = [
  { key: "home", label: "home page (/)", html: true, search: false },
  { key: "repository", label: "repository pages (/r/REPO)", html: true, search: false },
  { key: "tag", label: "tag pages (/r/REPO/-/tags/TAG)", html: true, search: false },
  { key: "diff", label: "tag diff pages (/r/REPO/-/diff)", html: true, search: false },
  { key: "searchPage", label: "search pages (/search?q=)", html: true, search: true },
  { key: "searchApi", label: "search API (/api/search?q=)", html: false, search: true },
];

/** Median time of `count` GETs of one path, one after another. */
async function sequentialMedian(hub: Hub, urlPath: string, count: number): Promise<number | null> {
  const times: number[] = [];
  for (let index = 0; index < count; index++) {
    const started = process.hrtime.bigint();
    const response = await hub.get(urlPath);
    await response.arrayBuffer();
    if (response.ok) times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return percentile(times, 0.5);
}

/** Markdown descriptions for every fifth repository, through the admin API, so search has descriptions to match. */
async function describe(hub: Hub, corpus: Corpus, adminToken: string): Promise<number> {
  const chosen = corpus.repositories.filter((_, index) => index % 5 === 0);
  let written = 0;
  await inParallel(chosen, 4, async (name) => {
    const markdown = `# ${name}\n\nThe **${name.split("/")[1] ?? name}** service of the *${name.split("/")[0] ?? ""}* team.\n\n- runs on gunicorn\n- [runbook](https://example.com/${name})\n`;
    const response = await fetch(`${hub.url}/api/repositories/${repoPath(name)}/description`, {
      method: "PUT",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ description: markdown }),
      signal: AbortSignal.timeout(10_000),
    });
    await response.body?.cancel();
    if (response.ok) written++;
  });
  return written;
}

/**
 * What a front end without an index does to answer "which tags hold NAME
 * matching SPECIFIER": every repository from _catalog, every tag list, every
 * manifest and config. Returns the matching "repo:tag"s.
 */
export async function walkRegistry(registryUrl: string, name: string, specifier: string): Promise<string[]> {
  const get = async (urlPath: string, accept?: string) => {
    const response = await fetch(new URL(urlPath, registryUrl), { headers: accept ? { accept } : {}, signal: AbortSignal.timeout(30_000) });
    if (!response.ok) throw new Error(`GET ${urlPath}: ${response.status}`);
    return response;
  };
  const repositories: string[] = [];
  let next: string | null = "/v2/_catalog?n=1000";
  while (next) {
    const response: Response = await get(next);
    repositories.push(...((await response.json()) as { repositories: string[] }).repositories);
    next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get("link") ?? "")?.[1] ?? null;
  }
  const found: string[] = [];
  const wanted = name.toLowerCase();
  await inParallel(repositories, 8, async (repository) => {
    const { tags } = (await (await get(`/v2/${repository}/tags/list`)).json()) as { tags: string[] | null };
    for (const tag of tags ?? []) {
      const manifest = (await (await get(`/v2/${repository}/manifests/${tag}`, "application/vnd.oci.image.manifest.v1+json")).json()) as { config: { digest: string } };
      const config = (await (await get(`/v2/${repository}/blobs/${manifest.config.digest}`)).json()) as { pypakr?: { distributions?: { name: string; version: string }[] } };
      if (config.pypakr?.distributions?.some((d) => d.name.toLowerCase() === wanted && satisfies(d.version, specifier))) found.push(`${repository}:${tag}`);
    }
  });
  return found.sort();
}

/** A real pypakr push of `tag` to a new repository, timed until /api/search lists that repository for `query`. */
async function pushUntilSearchable(hub: Hub, registry: HubRegistry, tag: string, query: string, repository: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ searchable: number; push: number }> {
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
  let pushMs: number | null = null;
  let pushError: string | null = null;
  execFile(CLI, ["push", tag, `${registry.host}/${repository}:1`], { env, timeout: timeoutMs }, (error, _stdout, stderr) => {
    pushMs = elapsed();
    if (error) pushError = `pypakr push failed: ${stderr || errorText(error)}`;
  });
  for (;;) {
    if (pushError !== null) throw new Error(pushError);
    const response = await hub.get(`/api/search?q=${encodeURIComponent(query)}`).catch(() => null);
    if (response?.ok) {
      const results = (await response.json()) as { repositories?: { name: string }[]; distributions?: { repository: string }[] };
      if ([...(results.distributions ?? []).map((hit) => hit.repository), ...(results.repositories ?? []).map((hit) => hit.name)].includes(repository)) {
        const searchable = elapsed();
        // The push command may still be exiting; its own time is reported too.
        const deadline = Date.now() + timeoutMs;
        while (pushMs === null && Date.now() < deadline) await sleep(10);
        return { searchable, push: pushMs ?? Number.NaN };
      }
    } else {
      await response?.body?.cancel();
    }
    if (elapsed() > timeoutMs) throw new Error(`${repository} was not searchable (/api/search?q=${query}) ${timeoutMs / 1000} s after the push started\n${hub.output()}`);
    await sleep(20);
  }
}

export async function measureHub(options: HubOptions): Promise<HubResult> {
  const { log } = options;
  const env = benchEnv(options.python);
  const dir = path.join(SCRATCH, "hub");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const notes: string[] = [];
  const sizes: Record<string, number | null> = {};
  const repositories = options.quick ? 200 : 1000;

  const push = newMeasurement("hub-push-corpus", `push the corpus over HTTP (${repositories} repositories × 3 tags; mounts, uploads, manifests)`, "fetch: POST/PUT blobs, PUT manifests, 4 repositories at a time");
  const indexLag = newMeasurement("hub-index-lag", "every tag indexed by the hub, after the last push", "GET /-/health until it counts every tag with none pending");
  const pages = Object.fromEntries(KINDS.map((kind) => [kind.key, newMeasurement(`hub-page-${kind.key}`, `hub: ${kind.label}`, `autocannon -c 4, GET each path in turn`)])) as Record<PageKind, Measurement>;
  const searchable = newMeasurement("hub-push-searchable", "pypakr push → listed by /api/search", "pypakr push TAG HOST/probe/REPO:1 while polling /api/search?q=NAME every 20 ms");
  const pypakrPush = newMeasurement("hub-pypakr-push", "the pypakr push itself (same runs)", "pypakr push TAG HOST/probe/REPO:1");
  const walk = newMeasurement("hub-walk-search", "peer: 'flask 3.1' by walking the registry (catalog, tag lists, manifests, configs)", "GET /v2/_catalog, tags/list, manifests, config blobs; 8 at a time");
  const measurements = [push, indexLag, ...Object.values(pages), searchable, pypakrPush, walk];

  log(`hub: generating ${repositories} repositories × 3 tags`);
  const corpus = makeCorpus(repositories);
  sizes["hub-corpus-blobs"] = corpus.bytes;
  const eventsToken = randomBytes(24).toString("base64url");
  const adminToken = randomBytes(24).toString("base64url");
  const port = await freePort();
  let registry: HubRegistry | null = null;
  let hub: Hub | null = null;
  let rss: { peak: number | null; now: number | null } = { peak: null, now: null };
  /** RSS along the way, to tell which phase grows the hub: after indexing, after the page loads. */
  const steps: string[] = [];
  const step = (what: string) => {
    const memory = memoryOf(hub?.pid);
    steps.push(`${what} ${memory.now === null ? "-" : (memory.now / 1e6).toFixed(0)} MB (peak ${memory.peak === null ? "-" : (memory.peak / 1e6).toFixed(0)})`);
  };
  let hubSearch: number | null = null;
  try {
    registry = await startHubRegistry({ eventsUrl: `http://127.0.0.1:${port}/events`, eventsToken });
    hub = await Hub.start(registry.url, port, path.join(dir, "data"), { ...env, PYPAKR_HUB_EVENTS_TOKEN: eventsToken, PYPAKR_HUB_ADMIN_TOKEN: adminToken });

    log(`hub: pushing ${corpus.tags.length} images (${corpus.layers} distinct distribution layers) with notifications on`);
    let started = Date.now();
    const requests = await pushCorpus(corpus, registry.url, 4, (done) => log(`hub: ${done} repositories pushed`));
    push.samples.push(Date.now() - started);
    notes.push(`hub corpus: ${corpus.repositories.length} repositories, ${corpus.tags.length} tags, ${corpus.layers} distinct distribution layers (10-30 per image, shared across repositories), ${(corpus.bytes / 1e6).toFixed(1)} MB of blobs; pushed with ${requests.mount} mounts, ${requests.upload} uploads and ${requests.manifest} manifests.`);
    started = Date.now();
    const { failures: indexFailures } = await untilIndexed(hub, corpus, 600_000);
    indexLag.samples.push(Date.now() - started);
    step("after indexing");
    if (Array.isArray(indexFailures) ? indexFailures.length > 0 : typeof indexFailures === "number" ? indexFailures > 0 : false) notes.push(`hub: the indexer reports failures: ${JSON.stringify(indexFailures).slice(0, 300)}`);

    const described = await describe(hub, corpus, adminToken).catch((error: unknown) => {
      notes.push(`hub: descriptions could not be written: ${errorText(error).split("\n")[0] ?? ""}`);
      return 0;
    });
    if (described > 0) notes.push(`hub: ${described} repositories got a Markdown description through PUT /api/repositories/REPO/description.`);

    const paths = pagePaths(corpus, options.quick ? 20 : 50);
    const amount = options.quick ? 300 : 1000;
    for (const kind of KINDS) {
      log(`hub: ${kind.label}, ${amount} GETs at 4 connections`);
      try {
        await timedLoad(hub.url, paths[kind.key], Math.min(50, amount), 2); // warm-up
        const timed = await timedLoad(hub.url, paths[kind.key], amount, 4);
        pages[kind.key].samples.push(...timed.samples);
        if (timed.failed > 0) pages[kind.key].failures.push(`${timed.failed} of ${amount} not answered 2xx (${timed.failures})`);
      } catch (error) {
        pages[kind.key].failures.push(errorText(error));
      }
    }
    hubSearch = await sequentialMedian(hub, `/api/search?q=${encodeURIComponent("flask 3.1")}`, 50);

    step("after the page loads");
    log("hub: building the image for the push → searchable runs");
    const stamp = Date.now().toString(36);
    const image = await appImage(helloApp({ name: "hub-probe", variant: stamp }), imageMaker(dir, env));
    for (let run = 0; run <= options.runs; run++) {
      try {
        const timed = await pushUntilSearchable(hub, registry, image.tag, "hello-app", `probe/r${stamp}-${run}`, env, 60_000);
        // The first run is a warm-up: the registry's first blobs from pypakr, the hub's first event from it.
        if (run > 0) {
          searchable.samples.push(timed.searchable);
          pypakrPush.samples.push(timed.push);
        }
      } catch (error) {
        searchable.failures.push(errorText(error));
        log(`hub push → searchable FAILED:\n${errorText(error)}`);
      }
    }
    tryRun({ cmd: CLI, args: ["rmi", "-f", image.tag] }, env);
    rss = memoryOf(hub.pid);

    log("hub: the peer, walking the registry for 'flask 3.1'");
    const truth = corpus.tags.filter(({ image: made }) => made.distributions.some((d) => d.name === "Flask" && satisfies(d.version, "==3.1.*"))).map(({ repository, tag }) => `${repository}:${tag}`).sort();
    for (let run = 0; run < 1; run++) {
      try {
        const walkStarted = process.hrtime.bigint();
        const found = await walkRegistry(registry.url, "flask", "==3.1.*");
        walk.samples.push(Number(process.hrtime.bigint() - walkStarted) / 1e6);
        if (found.join() !== truth.join()) walk.failures.push(`the walk found ${found.length} tags, the corpus has ${truth.length}`);
      } catch (error) {
        walk.failures.push(errorText(error));
      }
    }
    notes.push(`hub: 'flask 3.1' matches ${truth.length} of the ${corpus.tags.length} tags.`);
  } finally {
    await hub?.stop();
    await registry?.stop();
  }

  for (const m of measurements) m.summary = m.samples.length ? summarize(m.samples) : null;
  const html = KINDS.filter((kind) => kind.html).flatMap((kind) => pages[kind.key].samples);
  const search = KINDS.filter((kind) => kind.search).flatMap((kind) => pages[kind.key].samples);
  const median = (m: Measurement) => m.summary?.median ?? null;
  sizes["hub-rss-peak"] = rss.peak;
  sizes["hub-rss-after"] = rss.now;
  const comparisons: Comparison[] = [
    compare("hub-html-p95", "hub: HTML pages p95 (home, repository, tag, diff, search), 4 connections", "ms", percentile(html, 0.95), null, { metric: "value", op: "<=", value: 50 }),
    compare("hub-search-p95", "hub: search p95 (/search and /api/search), 4 connections", "ms", percentile(search, 0.95), null, { metric: "value", op: "<=", value: 20 }),
    compare("hub-push-searchable", "hub: pypakr push → searchable (median)", "ms", median(searchable), null, { metric: "value", op: "<=", value: 2000 }),
    compare("hub-rss", "hub: peak RSS (VmHWM) after the load", "bytes", rss.peak, null, { metric: "value", op: "<=", value: 200e6 }),
    compare("hub-search-vs-walk", "'flask 3.1': hub /api/search p50 vs walking the registry", "ms", hubSearch, median(walk), null),
  ];
  const p95s = KINDS.map((kind) => `${kind.key} ${percentile(pages[kind.key].samples, 0.95)?.toFixed(1) ?? "-"} ms`).join(", ");
  notes.push(
    `hub: p95 by page kind: ${p95s}; RSS ${steps.join(", ")}, at the end ${rss.now === null ? "-" : `${(rss.now / 1e6).toFixed(0)} MB`}; push → searchable max ${searchable.summary ? `${searchable.summary.max.toFixed(0)} ms` : "-"} over ${searchable.samples.length} runs after one warm-up.`,
    "hub: page times are autocannon's (4 connections, each path in turn), timed per answer to the microsecond; the load generator, the hub and the registry share the machine's CPUs. The hub runs with --reconcile-interval off (its reconcile at start finds the registry empty): the index is built from the push events alone.",
    "hub targets (issue 15): HTML page p95 <= 50 ms, search p95 <= 20 ms, pushed with pypakr push -> searchable <= 2 s, the hub's RSS <= 200 MB.",
  );
  fs.rmSync(dir, { recursive: true, force: true });
  return { measurements, comparisons, sizes, notes };
}
