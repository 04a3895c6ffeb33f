/**
 * What the serve rows drive: a `pypakr serve` gateway, an app started
 * directly from its container's venv (the peer), the first response byte of
 * an HTTP GET, and bounded autocannon loads. Loopback only; every wait has a
 * deadline and every process started is stopped by its caller.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as http from "node:http";
import * as path from "node:path";
import autocannon from "autocannon";
import { freePort } from "../../test/support/helpers.js";
import { median } from "./stats.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One GET on a new connection; resolves at its first response byte (the status line and headers), then reads the body. */
export function firstByte(url: string, timeoutMs: number): Promise<{ status: number; body: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false, timeout: timeoutMs }, (response) => {
      const body = new Promise<string>((done) => {
        let text = "";
        response.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
        response.on("end", () => done(text));
        response.on("error", () => done(text));
      });
      resolve({ status: response.statusCode ?? 0, body });
    });
    request.on("timeout", () => request.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    request.on("error", reject);
  });
}

/** GETs `url` until something answers (a refused connection is retried after 2 ms); the status of the first answer. */
export async function pollFirstByte(url: string, deadline: number): Promise<number> {
  for (;;) {
    try {
      const { status } = await firstByte(url, Math.max(1, deadline - Date.now()));
      return status;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(2);
    }
  }
}

/** Keeps the last lines of a stream, for the message when something fails. */
export function tailOf(child: ChildProcess): () => string {
  let text = "";
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString("utf8")).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return () => text;
}

export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once("exit", (code, signal) => resolve({ code, signal }));
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  const exited = exitOf(child);
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** The app as its author would run it without pypakr: the container's `run` with its venv active and PORT set. */
export class DirectApp {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly output: () => string,
  ) {}

  /**
   * Starts the app with HOME at `home` (as the sandbox gives it a private one: gunicorn, for one, makes
   * ~/.gunicorn); resolves with the time from the spawn to its first response byte, in ms.
   */
  static async start(container: string, home: string, port: number, base: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<{ app: DirectApp; ms: number }> {
    // `base` is the bench's environment: without PYTHONDONTWRITEBYTECODE, so the app's first start leaves bytecode for the next, as in any venv.
    const env: NodeJS.ProcessEnv = { ...base, HOME: home, VIRTUAL_ENV: container, PATH: `${path.join(container, "bin")}:${base.PATH ?? ""}`, PORT: String(port) };
    delete env.PYTHONHOME;
    const url = `http://127.0.0.1:${port}/`;
    const started = process.hrtime.bigint();
    const child = spawn(path.join(container, "run"), [], { cwd: container, env, stdio: ["ignore", "pipe", "pipe"] });
    const app = new DirectApp(child, url, tailOf(child));
    const exited = exitOf(child).then(({ code, signal }) => {
      throw new Error(`the app exited (${signal ?? `code ${code}`}) before answering\n${app.output()}`);
    });
    try {
      await Promise.race([pollFirstByte(url, Date.now() + timeoutMs), exited]);
    } catch (error) {
      await app.stop();
      throw error;
    }
    exited.catch(() => {});
    return { app, ms: Number(process.hrtime.bigint() - started) / 1e6 };
  }

  stop(): Promise<void> {
    return stopChild(this.child, 10_000);
  }
}

export interface GatewayStatus {
  apps: { name: string; image: string; digest: string | null; instances: { id: string; state: string; inFlight: number }[]; coldStarts: number; requests: number }[];
}

/** A `pypakr serve` on 127.0.0.1 for the given routes and flags. */
export class Gateway {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly output: () => string,
  ) {}

  static async start(cli: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<Gateway> {
    const port = await freePort();
    const child = spawn(cli, ["serve", "--listen", `127.0.0.1:${port}`, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    const gateway = new Gateway(child, `http://127.0.0.1:${port}`, tailOf(child));
    const exited = exitOf(child).then(({ code, signal }) => {
      throw new Error(`pypakr serve exited (${signal ?? `code ${code}`}) before it answered\n${gateway.output()}`);
    });
    try {
      await Promise.race([pollFirstByte(`${gateway.url}/_pypakr/status`, Date.now() + timeoutMs), exited]);
    } catch (error) {
      await gateway.stop();
      throw error;
    }
    exited.catch(() => {});
    return gateway;
  }

  async status(): Promise<GatewayStatus> {
    const response = await fetch(`${this.url}/_pypakr/status`, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`/_pypakr/status answered ${response.status}`);
    return (await response.json()) as GatewayStatus;
  }

  /** Waits until every app has no instance (scaled to zero); throws after `timeoutMs`. */
  async untilIdle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { apps } = await this.status();
      if (apps.every((app) => app.instances.length === 0)) return;
      if (Date.now() > deadline) throw new Error(`the gateway still has instances after ${timeoutMs} ms: ${JSON.stringify(apps)}\n${this.output()}`);
      await sleep(50);
    }
  }

  /** SIGTERM (the gateway drains and stops its instances); SIGKILL after 30 s. */
  stop(): Promise<void> {
    return stopChild(this.child, 30_000);
  }
}

export interface Latency {
  /** Median time from sending a GET to the end of its answer, in ms, over the 2xx answers. */
  p50: number;
  /** Requests that did not end in a 2xx. */
  failed: number;
}

/**
 * GETs one after another on one keep-alive connection (a new one whenever
 * the server closes it, as gunicorn's sync worker does) for `seconds`.
 * Timed here rather than by autocannon: its histogram keeps whole
 * milliseconds, and the times it reports per response grow without bound
 * against a server that closes every connection.
 */
export async function sequentialLatency(url: string, seconds: number): Promise<Latency> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  let failed = 0;
  const end = Date.now() + seconds * 1000;
  try {
    while (Date.now() < end) {
      const started = process.hrtime.bigint();
      const status = await new Promise<number>((resolve) => {
        const request = http.get(url, { agent, timeout: 10_000 }, (response) => {
          response.resume();
          response.on("end", () => resolve(response.statusCode ?? 0));
          response.on("error", () => resolve(0));
        });
        request.on("timeout", () => request.destroy());
        request.on("error", () => resolve(0));
      });
      if (status >= 200 && status < 300) times.push(Number(process.hrtime.bigint() - started) / 1e6);
      else failed += 1;
    }
  } finally {
    agent.destroy();
  }
  if (times.length === 0) throw new Error(`no GET of ${url} was answered 2xx in ${seconds} s (${failed} failed)`);
  return { p50: median(times), failed };
}

export interface Load {
  /** Responses with a 2xx status per second. */
  throughput: number;
  /** Requests that did not end in a 2xx: connection errors, timeouts and other statuses. */
  failed: number;
  /** What they were, e.g. "502: 4, errors: 2". */
  failures: string;
}

function failuresOf(result: autocannon.Result): string {
  const statuses = Object.entries(result.statusCodeStats ?? {})
    .filter(([code]) => !code.startsWith("2"))
    .map(([code, stats]) => `${code}: ${stats.count ?? 0}`);
  if (result.errors > 0) statuses.push(`errors: ${result.errors} (timeouts: ${result.timeouts})`);
  return statuses.join(", ");
}

/**
 * autocannon for `seconds` (duration only: with `amount` too, autocannon
 * ignores the duration), cut off by an outer timer if it overruns.
 */
export function load(url: string, connections: number, seconds: number): Promise<Load> {
  return new Promise((resolve, reject) => {
    const instance = autocannon({ url, connections, duration: seconds, timeout: 10 }, (error, result) => {
      clearTimeout(guard);
      if (error) reject(error instanceof Error ? error : new Error(String(error)));
      else resolve({ throughput: result["2xx"] / result.duration, failed: result.errors + result.non2xx, failures: failuresOf(result) });
    });
    const guard = setTimeout(() => instance.stop(), (seconds + 30) * 1000);
  });
}
