/**
 * The serve rows (issue 13): `pypakr serve` against the same app started
 * directly from a venv, side by side, medians, all on 127.0.0.1.
 *
 * - cold start: image stored, container made, the app scaled to zero (idle
 *   timeout 1 s, waited out through /_pypakr/status): time from sending a GET
 *   through the gateway to its first response byte, vs spawning the
 *   container's `run` (venv active, PORT set) and polling it until its first
 *   response byte. For a stdlib http.server app and Flask on gunicorn.
 * - first start of a new image digest: a GET to a route whose image is
 *   stored but was never made into a container (each run its own variant of
 *   the app, so its own digest; one gateway routes to them all), first byte,
 *   vs the cold start plus `pypakr create-container -i TAG` of the same image
 *   (timed after it).
 * - warm: p50 at 1 connection and 2xx responses per second at 50
 *   connections, autocannon for a fixed duration each, the app directly vs
 *   through the gateway, alternating.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { appImage, flaskGunicornApp, helloApp, type AppImage, type ImageMaker } from "../../test/support/serve-apps.js";
import { compare, type Comparison, type Measurement } from "./measure.js";
import { CLI, PYPAKR_HOME, SCRATCH, TOOLS_PIP, WORK } from "./paths.js";
import { benchEnv, run, timeSteps, tryRun } from "./proc.js";
import { freePort } from "../../test/support/helpers.js";
import { DirectApp, firstByte, Gateway, load, sequentialLatency } from "./serving.js";
import { summarize } from "./stats.js";

/** Flask and gunicorn for the Flask row, pinned, downloaded once. */
export const SERVE_REQUIREMENTS = ["flask==3.1.3", "gunicorn==26.2.0"];
const SERVE_WHEELS = path.join(WORK, "serve-wheels");

export interface ServeOptions {
  python: string;
  quick: boolean;
  /** Timed runs of each cold-start and first-start row. */
  runs: number;
  /** Include the Flask/gunicorn app (needs its wheels: cached, or downloaded from the index). */
  flask: boolean;
  log: (message: string) => void;
}

export interface ServeResult {
  measurements: Measurement[];
  comparisons: Comparison[];
  notes: string[];
}

/** Why the serve rows cannot run here, or null. */
export function serveUnavailable(): string | null {
  if (tryRun({ cmd: "bwrap", args: ["--version"] }) === null) return "serve rows skipped: bubblewrap (bwrap) is not installed, and pypakr serve sandboxes every app with it (apt-get install bubblewrap)";
  if (tryRun({ cmd: CLI, args: ["serve", "--help"] }) === null) return "serve rows skipped: this pypakr has no serve command";
  return null;
}

function newMeasurement(id: string, label: string, command: string, unit: Measurement["unit"] = "ms"): Measurement {
  return { id, label, command, samples: [], summary: null, failures: [], ...(unit === "ms" ? {} : { unit }) };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function ensureServeWheels(log: (message: string) => void): void {
  const marker = path.join(SERVE_WHEELS, "set.json");
  if (fs.existsSync(marker) && (JSON.parse(fs.readFileSync(marker, "utf8")) as { requirements: string[] }).requirements.join() === SERVE_REQUIREMENTS.join()) return;
  const partial = `${SERVE_WHEELS}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  log(`downloading ${SERVE_REQUIREMENTS.join(" ")} into bench/work/serve-wheels`);
  run({ cmd: TOOLS_PIP, args: ["download", "--disable-pip-version-check", "--only-binary", ":all:", "-d", partial, ...SERVE_REQUIREMENTS] });
  fs.writeFileSync(path.join(partial, "set.json"), JSON.stringify({ requirements: SERVE_REQUIREMENTS }) + "\n");
  fs.rmSync(SERVE_WHEELS, { recursive: true, force: true });
  fs.renameSync(partial, SERVE_WHEELS);
}

/** The benchmark's CLI with its environment, as serve-apps' image maker. */
export function imageMaker(dir: string, env: NodeJS.ProcessEnv): ImageMaker {
  return {
    dir,
    pypakr: (args) =>
      new Promise((resolve) => {
        execFile(CLI, args, { env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
          const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
          resolve({ code, signal: null, stdout, stderr });
        });
      }),
  };
}

interface ColdApp {
  key: string;
  label: string;
  image: AppImage;
  /** The container the direct runs start from, and their HOME. */
  container: string;
  home: string;
  gateway: Measurement;
  direct: Measurement;
}

/** One GET through the gateway on a new connection: ms from sending it to the first response byte; throws unless it answers 200. */
async function timedGet(gateway: Gateway, urlPath: string, timeoutMs: number): Promise<number> {
  const started = process.hrtime.bigint();
  const { status, body } = await firstByte(`${gateway.url}${urlPath}`, timeoutMs);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const text = await body;
  if (status !== 200) throw new Error(`the gateway answered ${status}: ${text.slice(0, 300)}\n${gateway.output()}`);
  return ms;
}

/** Cold starts, round-robin: per run and app, wait for zero instances, time a GET through the gateway, then a direct start. */
async function measureCold(apps: ColdApp[], runs: number, env: NodeJS.ProcessEnv, log: (message: string) => void): Promise<void> {
  const routes = apps.flatMap((app) => ["--route", `/${app.key}=${app.image.tag}`]);
  let gateway: Gateway | null = null;
  try {
    gateway = await Gateway.start(CLI, [...routes, "--idle-timeout", "1s"], env);
  } catch (error) {
    for (const app of apps) app.gateway.failures.push(`gateway start: ${errorText(error)}`);
  }
  const once = async (app: ColdApp, timed: boolean) => {
    if (gateway && app.gateway.failures.length === 0) {
      try {
        await gateway.untilIdle(20_000);
        const ms = await timedGet(gateway, `/${app.key}/`, 60_000);
        if (timed) app.gateway.samples.push(ms);
      } catch (error) {
        app.gateway.failures.push(`${timed ? "timed run" : "warm-up"}: ${errorText(error)}`);
        log(`${app.gateway.label} FAILED:\n${errorText(error)}`);
      }
    }
    if (app.direct.failures.length === 0) {
      try {
        const { app: direct, ms } = await DirectApp.start(app.container, app.home, await freePort(), env);
        await direct.stop();
        if (timed) app.direct.samples.push(ms);
      } catch (error) {
        app.direct.failures.push(`${timed ? "timed run" : "warm-up"}: ${errorText(error)}`);
        log(`${app.direct.label} FAILED:\n${errorText(error)}`);
      }
    }
  };
  try {
    // The warm-up's GET is the app's first start in this gateway (it makes the container if the store lacks it).
    for (const app of apps) await once(app, false);
    for (let index = 0; index < runs; index++) {
      log(`serve cold start: run ${index + 1}/${runs}`);
      for (const app of apps) await once(app, true);
    }
  } finally {
    await gateway?.stop();
  }
}

/** The containers the gateway made under the bench's pypakr home (`run -i`'s directory). */
function gatewayContainers(): Set<string> {
  try {
    return new Set(fs.readdirSync(path.join(PYPAKR_HOME, "containers")));
  } catch {
    return new Set();
  }
}

/**
 * First start of a digest the gateway has never seen: one fresh gateway per run, then create-container of the
 * same tag. Afterwards the variants' containers and images go, so runs do not pile them up in the bench's home.
 */
async function measureFirstStart(variants: AppImage[], dir: string, env: NodeJS.ProcessEnv, first: Measurement, create: Measurement, log: (message: string) => void): Promise<void> {
  const before = gatewayContainers();
  try {
    await timeFirstStarts(variants, dir, env, first, create, log);
  } finally {
    for (const name of gatewayContainers()) if (!before.has(name)) fs.rmSync(path.join(PYPAKR_HOME, "containers", name), { recursive: true, force: true });
    for (const variant of variants) tryRun({ cmd: CLI, args: ["rmi", "-f", variant.tag] }, env);
  }
}

/**
 * One gateway routes to every variant. The first variant's start is untimed: it warms up the gateway process
 * (as the cold-start row's warm-up does), so each timed run pays what a new digest costs, not Node's first
 * use of the code. Before each, the gateway is back to zero instances, as for a cold start.
 */
async function timeFirstStarts(variants: AppImage[], dir: string, env: NodeJS.ProcessEnv, first: Measurement, create: Measurement, log: (message: string) => void): Promise<void> {
  const routes = variants.flatMap((variant, index) => ["--route", `/v${index}=${variant.tag}`]);
  let gateway: Gateway;
  try {
    gateway = await Gateway.start(CLI, [...routes, "--idle-timeout", "1s"], env);
  } catch (error) {
    first.failures.push(`gateway start: ${errorText(error)}`);
    return;
  }
  try {
    for (const [index, variant] of variants.entries()) {
      const timed = index > 0;
      log(`serve first start of a new digest: ${timed ? `run ${index}/${variants.length - 1}` : "warm-up"}`);
      try {
        await gateway.untilIdle(20_000);
        const ms = await timedGet(gateway, `/v${index}/`, 120_000);
        if (timed) first.samples.push(ms);
      } catch (error) {
        first.failures.push(`${timed ? "timed run" : "warm-up"}: ${errorText(error)}`);
        log(`${first.label} FAILED:\n${errorText(error)}`);
      }
      if (!timed) continue;
      try {
        create.samples.push(timeSteps([{ cmd: CLI, args: ["create-container", "-i", variant.tag, "-c", path.join(dir, `made-${index}`)] }], env));
      } catch (error) {
        create.failures.push(`timed run: ${errorText(error)}`);
      }
    }
  } finally {
    await gateway.stop();
  }
}

interface WarmRows {
  p50: { direct: Measurement; gateway: Measurement };
  throughput: { direct: Measurement; gateway: Measurement };
}

function warmRows(key: string, label: string, seconds: { p50: number; throughput: number }): WarmRows {
  const row = (what: string, side: "direct" | "gateway", unit: "ms" | "req/s", connections: number, duration: number) =>
    newMeasurement(
      `serve-warm-${what}-${key}-${side}`,
      `${label}, warm, ${what === "p50" ? "p50 at 1 connection" : `2xx/s at ${connections} connections`}: ${side === "direct" ? "app directly" : "through pypakr serve"}`,
      what === "p50" ? `sequential GETs on one keep-alive connection for ${duration} s (${side})` : `autocannon -c ${connections} -d ${duration} (${side})`,
      unit,
    );
  return {
    p50: { direct: row("p50", "direct", "ms", 1, seconds.p50), gateway: row("p50", "gateway", "ms", 1, seconds.p50) },
    throughput: { direct: row("throughput", "direct", "req/s", 50, seconds.throughput), gateway: row("throughput", "gateway", "req/s", 50, seconds.throughput) },
  };
}

/**
 * Warm requests, alternating direct and gateway each round; the gateway keeps its default idle timeout (60 s),
 * so its instance stays up. A side that fails to start is left out; the other is still measured.
 */
async function measureWarm(app: ColdApp, rows: WarmRows, rounds: number, seconds: { p50: number; throughput: number }, env: NodeJS.ProcessEnv, notes: string[], log: (message: string) => void): Promise<void> {
  const targets: Partial<Record<"direct" | "gateway", string>> = {};
  const fail = (failedRows: Measurement[], error: unknown) => {
    for (const row of failedRows) row.failures.push(errorText(error));
    log(`serve warm (${app.label}) FAILED:\n${errorText(error)}`);
  };
  let direct: DirectApp | null = null;
  let gateway: Gateway | null = null;
  try {
    try {
      direct = (await DirectApp.start(app.container, app.home, await freePort(), env)).app;
      targets.direct = direct.url;
    } catch (error) {
      fail([rows.p50.direct, rows.throughput.direct], error);
    }
    try {
      gateway = await Gateway.start(CLI, ["--route", `/=${app.image.tag}`], env);
      targets.gateway = `${gateway.url}/`;
    } catch (error) {
      fail([rows.p50.gateway, rows.throughput.gateway], error);
    }
    const failed = { direct: 0, gateway: 0 };
    const kinds = { direct: [] as string[], gateway: [] as string[] };
    for (let round = 0; round < rounds; round++) {
      log(`serve warm (${app.label}): round ${round + 1}/${rounds}`);
      for (const side of ["direct", "gateway"] as const) {
        const url = targets[side];
        if (url === undefined) continue;
        try {
          // Wakes the gateway's instance (and the connection pools) before the timed load.
          await firstByte(url, 60_000).then(({ body }) => body);
          const quiet = await sequentialLatency(url, seconds.p50);
          rows.p50[side].samples.push(quiet.p50);
          failed[side] += quiet.failed;
        } catch (error) {
          fail([rows.p50[side]], error);
        }
        try {
          const busy = await load(url, 50, seconds.throughput);
          rows.throughput[side].samples.push(busy.throughput);
          failed[side] += busy.failed;
          if (busy.failures) kinds[side].push(busy.failures);
        } catch (error) {
          fail([rows.throughput[side]], error);
        }
      }
    }
    const detail = (side: "direct" | "gateway") => `${failed[side]}${kinds[side].length ? ` (at 50 connections: ${kinds[side].join("; ")})` : ""}`;
    notes.push(`serve warm (${app.label}): requests not answered 2xx over all rounds: directly ${detail("direct")}, through the gateway ${detail("gateway")}.`);
  } finally {
    await direct?.stop();
    await gateway?.stop();
  }
}

export async function measureServe(options: ServeOptions): Promise<ServeResult> {
  const { log } = options;
  const env = benchEnv(options.python);
  const dir = path.join(SCRATCH, "serve");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const maker = imageMaker(dir, env);
  const notes: string[] = [];

  const coldApp = (key: string, label: string, image: AppImage): ColdApp => {
    const container = path.join(dir, `${key}-direct`);
    run({ cmd: CLI, args: ["create-container", "-i", image.tag, "-c", container] }, env);
    const home = path.join(dir, `${key}-home`);
    fs.mkdirSync(home);
    return {
      key,
      label,
      image,
      container,
      home,
      gateway: newMeasurement(`serve-cold-${key}-gateway`, `${label}: cold start through pypakr serve (first byte)`, `GET via pypakr serve --idle-timeout 1s, after scale-to-zero`),
      direct: newMeasurement(`serve-cold-${key}-direct`, `${label}: started directly from its venv (first byte)`, `PORT=N CONT/run, polled until it answers`),
    };
  };
  log("serve: building the apps' images");
  const apps = [coldApp("hello", "http.server app", await appImage(helloApp(), maker))];
  if (options.flask) {
    try {
      ensureServeWheels(log);
      apps.push(coldApp("flask", "Flask on gunicorn", await appImage(flaskGunicornApp({ findLinks: SERVE_WHEELS }), maker)));
    } catch (error) {
      notes.push(`serve: the Flask/gunicorn rows are missing: ${errorText(error).split("\n")[0] ?? ""}`);
      log(`serve: Flask/gunicorn unavailable:\n${errorText(error)}`);
    }
  } else {
    notes.push("serve: the Flask/gunicorn rows are left out (--quick or --no-real; they need flask and gunicorn from the package index once).");
  }
  // Each first-start run needs a digest no gateway has seen: a variant of the app (one more app file) per run.
  // One more than the runs: the first is the gateway's warm-up. Built two at a time (the machine may have two cores).
  const stamp = Date.now().toString(36);
  const variants: AppImage[] = [];
  for (let index = 0; index <= options.runs; index += 2) {
    const pair = [index, index + 1].filter((n) => n <= options.runs).map((n) => appImage(helloApp({ name: "fresh", variant: `${stamp}-${n}` }), maker));
    variants.push(...(await Promise.all(pair)));
  }

  const coldRuns = options.quick ? 5 : 10;
  await measureCold(apps, coldRuns, env, log);

  const first = newMeasurement("serve-first-start", "http.server app: first start of a new image digest through pypakr serve", "pypakr serve --route /vN=TAG_N ... --idle-timeout 1s, first GET of /vN/");
  const create = newMeasurement("serve-create-container", "pypakr create-container -i TAG of the same new image", "pypakr create-container -i TAG -c DIR");
  await measureFirstStart(variants, dir, env, first, create, log);

  const seconds = options.quick ? { p50: 1, throughput: 2 } : { p50: 3, throughput: 5 };
  const rounds = options.quick ? 1 : 3;
  const warm = apps.map((app) => ({ app, rows: warmRows(app.key, app.label, seconds) }));
  for (const { app, rows } of warm) await measureWarm(app, rows, rounds, seconds, env, notes, log);

  const measurements: Measurement[] = [
    ...apps.flatMap((app) => [app.gateway, app.direct]),
    first,
    create,
    ...warm.flatMap(({ rows }) => [rows.p50.direct, rows.p50.gateway, rows.throughput.direct, rows.throughput.gateway]),
  ];
  for (const m of measurements) m.summary = m.samples.length ? summarize(m.samples) : null;
  const median = (m: Measurement) => m.summary?.median ?? null;

  const comparisons: Comparison[] = apps.map((app) =>
    compare(`serve-cold-${app.key}`, `${app.label}: cold start via pypakr serve vs direct from a venv`, "ms", median(app.gateway), median(app.direct), { metric: "difference", op: "<=", value: 50 }),
  );
  const cold = apps[0] ? median(apps[0].gateway) : null;
  const made = median(create);
  comparisons.push(
    compare("serve-first-start", "first start of a new digest vs cold start + create-container", "ms", median(first), cold !== null && made !== null ? cold + made : null, { metric: "ratio", op: "<=", value: 1 }),
  );
  for (const { app, rows } of warm) {
    comparisons.push(
      compare(`serve-warm-p50-${app.key}`, `${app.label}: warm p50 at 1 connection, via pypakr serve vs direct`, "ms", median(rows.p50.gateway), median(rows.p50.direct), { metric: "difference", op: "<=", value: 1 }),
      compare(`serve-warm-throughput-${app.key}`, `${app.label}: warm 2xx/s at 50 connections, via pypakr serve vs direct`, "req/s", median(rows.throughput.gateway), median(rows.throughput.direct), {
        metric: "ratio",
        op: ">=",
        value: 0.8,
      }),
    );
  }
  notes.push(
    `serve: ${coldRuns} cold starts per app after one warm-up, ${variants.length - 1} first starts (after one untimed), ${rounds} warm round(s) of ${seconds.p50} s at 1 connection and ${seconds.throughput} s at 50 connections; ` +
      "the load generator, the gateway and the app share the machine's CPUs, so throughput says as much about the load generator's share as about the proxy.",
    "serve targets (issue 13): cold start <= direct + 50 ms; first start of a new digest <= cold start + create-container; warm p50 <= direct + 1 ms; warm 2xx/s >= 0.8x direct.",
  );
  fs.rmSync(dir, { recursive: true, force: true });
  return { measurements, comparisons, notes };
}
