/**
 * One running copy of an app: a sandboxed process, the readiness probe that
 * says when it serves, the keep-alive connections the proxy reuses, and its
 * output, each line prefixed with the app's name. An instance never restarts
 * itself: the app's pool (app.ts) decides what follows its end.
 */
import * as http from "node:http";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Readable } from "node:stream";
import type { Pool } from "undici";
import { startSandboxed, type SandboxEndpoint, type SandboxExit, type SandboxSpec, type SandboxSupport, type SandboxedProcess } from "../sandbox/index.js";
import { writeErr } from "../util/log.js";
import { printableLine } from "../util/printable.js";
import { poolFor } from "./forward.js";

export type InstanceState = "starting" | "ready" | "stopping" | "ended";

/** How many of an instance's last output lines a failure report shows. */
const KEPT_LINES = 20;
/** An output line longer than this is cut: an app cannot make the gateway hold unbounded text. */
const MAX_LINE = 4096;
/** How often a starting instance's socket table is looked at; health-path requests back off from here to HEALTH_PROBE_MAX_MS. */
const PROBE_EVERY_MS = 2;
const HEALTH_PROBE_MAX_MS = 50;
const PROBE_REQUEST_TIMEOUT_MS = 2000;

export class StartFailure extends Error {
  constructor(
    message: string,
    readonly lastLines: string[],
  ) {
    super(message);
  }
}

export interface InstanceOptions {
  app: string;
  /** Unique among the gateway's instances; names its cgroup and runtime directory. */
  id: string;
  support: SandboxSupport;
  spec: Omit<SandboxSpec, "id" | "runtimeDir">;
  /** The gateway's own runtime directory; the instance makes and removes a directory inside it. */
  runtimeRoot: string;
  healthPath?: string;
  concurrency: number;
  /** How long an answer may take (headers, and between body chunks). */
  requestTimeoutMs: number;
}

export class Instance {
  state: InstanceState = "starting";
  /** Set by stop(): an end that follows is not a crash. */
  stopRequested = false;
  inFlight = 0;
  /** When the instance last had nothing to do (for the idle timeout), as performance.now(). */
  idleSince = performance.now();
  readonly startedAt = performance.now();
  readyAt: number | null = null;
  /** Keep-alive connections to this instance only, dropped with it (made once the sandbox says where the app listens). */
  pool: Pool | null = null;
  readonly lastLines: string[] = [];
  endpoint: SandboxEndpoint | null = null;
  private process: SandboxedProcess | null = null;
  private readonly runtimeDir: string;
  /** Settles when the process has ended (or never started) and the instance's files are gone. */
  readonly ended: Promise<SandboxExit>;
  private endedWith!: (exit: SandboxExit) => void;

  constructor(readonly options: InstanceOptions) {
    this.runtimeDir = path.join(options.runtimeRoot, options.id);
    this.ended = new Promise((resolve) => (this.endedWith = resolve));
  }

  get id(): string {
    return this.options.id;
  }

  /** Starts the process and resolves once it answers HTTP; rejects with a StartFailure (and ends the instance) otherwise. */
  async start(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    try {
      await fs.mkdir(this.runtimeDir, { mode: 0o700 });
      this.process = await startSandboxed(this.options.support, { ...this.options.spec, id: this.options.id, runtimeDir: this.runtimeDir });
    } catch (error) {
      await this.finish({ code: null, signal: null });
      throw new StartFailure(`could not start its sandbox: ${error instanceof Error ? error.message : String(error)}`, []);
    }
    const running = this.process;
    this.endpoint = running.endpoint;
    this.pool = poolFor(running.endpoint, this.options.concurrency, this.options.requestTimeoutMs);
    this.relay(running.stdout);
    this.relay(running.stderr);
    let exit: SandboxExit | null = null;
    void running.exited.then(async (result) => {
      exit = result;
      await this.finish(result);
    });
    try {
      await this.waitUntilReady(deadline, () => exit);
    } catch (error) {
      if (exit === null) await this.stop(0);
      throw error;
    }
    this.state = "ready";
    this.readyAt = performance.now();
    this.idleSince = this.readyAt;
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves once the instance has ended. */
  async stop(graceMs: number): Promise<SandboxExit> {
    this.stopRequested = true;
    if (this.state !== "ended") this.state = "stopping";
    if (this.process) await this.process.stop(graceMs);
    return this.ended;
  }

  private async finish(exit: SandboxExit): Promise<void> {
    this.state = "ended";
    await this.pool?.destroy().catch(() => undefined);
    await fs.rm(this.runtimeDir, { recursive: true, force: true }).catch(() => undefined);
    this.endedWith(exit);
  }

  /**
   * Ready means listening on its port, seen in the sandbox's socket table
   * (polled every PROBE_EVERY_MS; a cold start is waited on by a request);
   * with a health path, that path must then also answer below 500.
   */
  private async waitUntilReady(deadline: number, exited: () => SandboxExit | null): Promise<void> {
    const running = this.process as SandboxedProcess;
    let listening = false;
    let delay = PROBE_EVERY_MS;
    for (;;) {
      const early = exited();
      if (early !== null) throw new StartFailure(`exited before it served (${describeExit(early)})`, this.lastLines);
      listening ||= await running.listening();
      if (listening) {
        if (this.options.healthPath === undefined || (await this.answers())) return;
        delay = Math.min(delay * 2, HEALTH_PROBE_MAX_MS);
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new StartFailure(listening ? `its health path ${this.options.healthPath ?? ""} did not answer below 500 within the start timeout` : `did not listen on $PORT within the start timeout`, this.lastLines);
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)));
    }
  }

  /** One probe: an HTTP answer proves the app listens (a bridge may accept connections before the app does). */
  private answers(): Promise<boolean> {
    const endpoint = this.endpoint;
    if (endpoint === null) return Promise.resolve(false);
    const healthPath = this.options.healthPath;
    return new Promise((resolve) => {
      const request = http.request({ ...endpoint, path: healthPath ?? "/", method: "GET", agent: false, timeout: PROBE_REQUEST_TIMEOUT_MS, headers: { "user-agent": "pypakr-serve-probe" } }, (response) => {
        response.resume();
        resolve((response.statusCode ?? 500) < 500);
      });
      request.on("timeout", () => request.destroy());
      request.on("error", () => resolve(false));
      request.end();
    });
  }

  private relay(stream: Readable): void {
    let pending = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      pending += chunk;
      let newline = pending.indexOf("\n");
      while (newline !== -1) {
        this.line(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        newline = pending.indexOf("\n");
      }
      if (pending.length > MAX_LINE) {
        this.line(pending);
        pending = "";
      }
    });
    stream.on("end", () => {
      if (pending) this.line(pending);
    });
  }

  private line(text: string): void {
    const shown = printableLine(text.length > MAX_LINE ? `${text.slice(0, MAX_LINE)}…` : text);
    this.lastLines.push(shown);
    if (this.lastLines.length > KEPT_LINES) this.lastLines.shift();
    writeErr(`[${this.options.app}] ${shown}\n`);
  }
}

export function describeExit(exit: SandboxExit): string {
  const how = exit.signal !== null ? `killed by ${exit.signal}` : `exit code ${exit.code ?? "unknown"}`;
  if (exit.limitHit === "memory") return `${how}: it hit its memory limit`;
  if (exit.limitHit === "processes") return `${how}: it hit its process limit`;
  return how;
}
