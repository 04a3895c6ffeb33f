/**
 * `pypakr serve` as the e2e tests meet it: the built CLI on a free loopback
 * port, ready once it says "listening on", talked to over plain HTTP, and
 * always stopped (SIGTERM, then SIGKILL after a bound) by the suite's `after`
 * hook, since a gateway left running keeps its sandboxes alive. Every wait
 * here has a deadline.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import * as net from "node:net";
import { CLI, cliEnv, freePort } from "./helpers.js";

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One app in /_pypakr/status (the fields the tests read). */
export interface AppStatus {
  name: string;
  instances: { id: string; state: string; inFlight: number }[];
  coldStarts: number;
  crashes: number;
  requests: number;
  rejected: number;
  queued: number;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** When the whole answer had arrived (performance.now()). */
  at: number;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Sent with its Content-Length, or chunked when `chunked` is set (in pieces of 64 KiB). */
  body?: Buffer;
  chunked?: boolean;
  timeoutMs?: number;
}

const START_TIMEOUT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 15_000;
/** The gateway's output kept for assertions: enough for a suite's requests, bounded all the same. */
const MAX_LOG_CHARS = 4_000_000;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One HTTP request on a connection of its own; rejects on a connection error or after the timeout. */
export function send(url: string, options: RequestOptions = {}): Promise<Answer> {
  const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined && !options.chunked) headers["content-length"] = String(options.body.length);
    const request = http.request(url, { method: options.method ?? (options.body ? "POST" : "GET"), headers, agent: false, timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => {
        const body = Buffer.concat(chunks);
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body, text: body.toString("utf8"), at: performance.now() });
      });
    });
    request.on("timeout", () => request.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    request.on("error", reject);
    if (options.body !== undefined && options.chunked) {
      for (let at = 0; at < options.body.length; at += 65536) request.write(options.body.subarray(at, at + 65536));
      request.end();
    } else {
      request.end(options.body);
    }
  });
}

/** Whether a TCP connection to 127.0.0.1:port is accepted (a second at most). */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port, timeout: 1000 });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Polls `check` every `everyMs` until it returns a value other than undefined; throws `what` after timeoutMs. */
export async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined, everyMs = 50): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/** Every process below `pid` on the host (from the kernel's children lists). */
export async function descendants(pid: number): Promise<number[]> {
  const found: number[] = [];
  const tasks = await fs.readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  for (const task of tasks) {
    const text = await fs.readFile(`/proc/${pid}/task/${task}/children`, "utf8").catch(() => "");
    for (const child of text.trim().split(/\s+/).filter(Boolean).map(Number)) found.push(child, ...(await descendants(child)));
  }
  return found;
}

/** A host process's real, effective, saved and filesystem uids and its command line; null once it is gone. */
export async function processInfo(pid: number): Promise<{ uids: number[]; argv: string[] } | null> {
  const status = await fs.readFile(`/proc/${pid}/status`, "utf8").catch(() => null);
  const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => null);
  if (status === null || cmdline === null) return null;
  const uids = (/^Uid:\s+(.*)$/m.exec(status)?.[1] ?? "").split(/\s+/).map(Number);
  return { uids, argv: cmdline.split("\0").filter(Boolean) };
}

/** Whether `pid` is a live process (not gone, not a zombie waiting to be reaped). */
export function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/**
 * Host pids of live processes whose real uid is `uid` (what `pgrep -u UID` lists) and whose working directory
 * lies in `dir`: every gateway gives its first app the same uid, so another gateway's apps (another test file's,
 * a benchmark's) may run as it too, in containers of other homes.
 */
export async function processesOfUid(uid: number, dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await fs.readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const info = await processInfo(Number(name));
    if (info?.uids[0] !== uid || !isRunning(Number(name))) continue;
    const cwd = await fs.readlink(`/proc/${name}/cwd`).catch(() => "");
    if (cwd === dir || cwd.startsWith(`${dir}/`)) found.push(Number(name));
  }
  return found;
}

type TomlValue = string | number | boolean | Record<string, string>;

/**
 * A gateway's config file in TOML: listen on 127.0.0.1:PORT, and an [apps.NAME] table per app (JSON's string
 * escapes are TOML's too; env as an inline table).
 */
export function serveToml(port: number, apps: Record<string, Record<string, TomlValue>>): string {
  const value = (entry: TomlValue): string =>
    typeof entry === "object"
      ? `{ ${Object.entries(entry)
          .map(([name, text]) => `${name} = ${JSON.stringify(text)}`)
          .join(", ")} }`
      : typeof entry === "string"
        ? JSON.stringify(entry)
        : String(entry);
  const lines = [`listen = "127.0.0.1:${port}"`];
  for (const [name, settings] of Object.entries(apps)) {
    lines.push("", `[apps.${name}]`, ...Object.entries(settings).map(([key, entry]) => `${key} = ${value(entry)}`));
  }
  return `${lines.join("\n")}\n`;
}

const running = new Set<Gateway>();

/** Stops every gateway still running (for a suite's `after` hook). */
export async function stopGateways(): Promise<void> {
  await Promise.all([...running].map((gateway) => gateway.stop()));
}

export class Gateway {
  private output = "";
  readonly exited: Promise<Exit>;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    const keep = (chunk: string) => {
      if (this.output.length < MAX_LOG_CHARS) this.output += chunk;
    };
    child.stdout?.setEncoding("utf8").on("data", keep);
    child.stderr?.setEncoding("utf8").on("data", keep);
    this.exited = new Promise((resolve) => child.once("close", (code, signal) => resolve({ code, signal })));
    void this.exited.then(() => running.delete(this));
  }

  /**
   * `pypakr serve --listen 127.0.0.1:PORT ARGS...` (a free port, unless ARGS use --config, whose file then
   * names it: pass it as `port`), with PYPAKR_HOME `home`; resolves once it says it listens.
   */
  static async start(args: string[], options: { home: string; port?: number; timeoutMs?: number }): Promise<Gateway> {
    const port = options.port ?? (await freePort());
    const listen = options.port === undefined ? ["--listen", `127.0.0.1:${port}`] : [];
    const child = spawn(CLI, ["serve", ...listen, ...args], { env: cliEnv({ home: options.home }), stdio: ["ignore", "pipe", "pipe"] });
    const gateway = new Gateway(child, port);
    running.add(gateway);
    try {
      await gateway.waitForLog(/listening on http:\/\/127\.0\.0\.1:\d+/, options.timeoutMs ?? START_TIMEOUT_MS);
    } catch (error) {
      await gateway.stop();
      throw error;
    }
    return gateway;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Everything the gateway wrote (stderr and stdout) so far. */
  log(): string {
    return this.output;
  }

  /** Waits until the log (from character `from` on) matches; fails with the log when it does not in time or the gateway exits. */
  async waitForLog(pattern: RegExp, timeoutMs: number, from = 0): Promise<RegExpExecArray> {
    let gone = false;
    void this.exited.then(() => (gone = true));
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.output.slice(from));
      if (match !== null) return match;
      if (gone || performance.now() > deadline) throw new Error(`the gateway's log did not show ${pattern} ${gone ? "before it exited" : `within ${timeoutMs} ms`}:\n${this.output}`);
      await sleep(20);
    }
  }

  get(path: string, options: RequestOptions = {}): Promise<Answer> {
    return send(`${this.url}${path}`, options);
  }

  async status(): Promise<AppStatus[]> {
    const answer = await this.get("/_pypakr/status", { timeoutMs: 10_000 });
    if (answer.status !== 200) throw new Error(`/_pypakr/status answered ${answer.status}: ${answer.text}`);
    return (JSON.parse(answer.text) as { apps: AppStatus[] }).apps;
  }

  async app(name: string): Promise<AppStatus> {
    const app = (await this.status()).find((entry) => entry.name === name);
    if (app === undefined) throw new Error(`/_pypakr/status has no app ${name}`);
    return app;
  }

  /** Sends a signal to the gateway (not its sandboxes). */
  signal(name: NodeJS.Signals): void {
    this.child.kill(name);
  }

  /** SIGTERM, then SIGKILL if it has not exited within graceMs; resolves with how it exited. */
  async stop(graceMs = STOP_GRACE_MS): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
      const exit = await this.exited;
      clearTimeout(timer);
      return exit;
    }
    return this.exited;
  }
}
