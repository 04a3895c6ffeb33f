/**
 * One app's instances and the requests waiting for them: the scaling rules
 * of the gateway. A request takes a slot on the least busy ready instance;
 * when every slot is taken, it waits in a bounded queue, and a new instance
 * starts if the ones running and starting cannot absorb the waiting
 * requests, up to the app's maximum. An instance idle for the idle timeout
 * stops (down to the minimum), so an app nobody calls costs nothing. An
 * instance that ends unasked is a crash: the next start waits a backoff that
 * doubles with each crash in a row.
 */
import { CACHE_INSIDE, type SandboxSupport } from "../sandbox/index.js";
import { progress, writeErr } from "../util/log.js";
import type { Digest } from "../util/hash.js";
import { describeExit, Instance, StartFailure } from "./instance.js";
import type { PreparedContainer } from "./prepare.js";
import { AppStats } from "./stats.js";
import type { AppSettings } from "./types.js";

const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/** An instance that served this long resets the crash count. */
const STABLE_AFTER_MS = 30_000;

/** Why a request gets no instance: the queue is full, or the app cannot start or did not in time. */
export class Unavailable extends Error {
  constructor(
    message: string,
    readonly status: 502 | 503,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

interface Waiter {
  resolve: (instance: Instance) => void;
  reject: (error: Unavailable) => void;
  timer: NodeJS.Timeout;
}

export interface AppContext {
  /** The gateway's request timeout, which bounds each answer from an instance. */
  requestTimeoutMs: number;
  support: SandboxSupport;
  runtimeRoot: string;
  /** The container per image digest, made once and shared by every app of that digest. */
  containerFor: (digest: Digest) => Promise<PreparedContainer>;
  /** A gateway-wide unique instance id. */
  nextInstanceId: (app: string) => string;
  /** The uid the app's instances run as when the gateway is root. */
  uid?: number;
  /** The bytecode cache directory the app's instances share, or undefined. */
  cacheDir?: string;
}

export class AppPool {
  readonly stats = new AppStats();
  readonly instances = new Set<Instance>();
  private readonly waiting: Waiter[] = [];
  private crashesInARow = 0;
  private nextStartAt = 0;
  private startTimer: NodeJS.Timeout | null = null;
  private closing = false;

  constructor(
    readonly settings: AppSettings,
    readonly digest: Digest,
    private readonly context: AppContext,
  ) {}

  get queued(): number {
    return this.waiting.length;
  }

  /** Starts the minimum number of instances (at the gateway's start). */
  warmUp(): void {
    this.scale();
  }

  /** A ready instance with a free slot, now or once one frees up or starts; its slot is taken for the caller, who must `release` it. */
  acquire(): Promise<Instance> {
    if (this.closing) return Promise.reject(new Unavailable("the gateway is shutting down", 503, 5));
    const instance = this.freeInstance();
    if (instance !== null && this.waiting.length === 0) return Promise.resolve(this.take(instance));
    if (this.waiting.length >= this.settings.queueLimit) {
      this.stats.rejected += 1;
      return Promise.reject(new Unavailable(`app ${this.settings.name}: ${this.waiting.length} requests are already waiting (queue-limit)`, 503, 1));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.drop(waiter);
          this.stats.rejected += 1;
          reject(new Unavailable(`app ${this.settings.name}: no instance was free within the start timeout`, 503, 1));
        }, this.settings.startTimeoutMs),
      };
      this.waiting.push(waiter);
      this.dispatch();
      this.scale();
    });
  }

  /** Gives back a slot taken by `acquire`. */
  release(instance: Instance): void {
    instance.inFlight -= 1;
    if (instance.inFlight === 0) instance.idleSince = performance.now();
    this.dispatch();
    this.scheduleIdleStop(instance);
  }

  /** Stops every instance (SIGTERM, then SIGKILL after the grace period) and turns waiting requests away. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.startTimer) clearTimeout(this.startTimer);
    for (const waiter of this.waiting.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new Unavailable("the gateway is shutting down", 503, 5));
    }
    await Promise.all([...this.instances].map((instance) => instance.stop(this.settings.stopGraceMs)));
  }

  private freeInstance(): Instance | null {
    let best: Instance | null = null;
    for (const instance of this.instances) {
      if (instance.state !== "ready" || instance.inFlight >= this.settings.concurrency) continue;
      if (best === null || instance.inFlight < best.inFlight) best = instance;
    }
    return best;
  }

  private take(instance: Instance): Instance {
    instance.inFlight += 1;
    return instance;
  }

  private dispatch(): void {
    for (;;) {
      const waiter = this.waiting[0];
      const instance = this.freeInstance();
      if (waiter === undefined || instance === null) return;
      this.waiting.shift();
      clearTimeout(waiter.timer);
      waiter.resolve(this.take(instance));
    }
  }

  private drop(waiter: Waiter): void {
    const at = this.waiting.indexOf(waiter);
    if (at !== -1) this.waiting.splice(at, 1);
  }

  /** Starts instances while demand (requests in flight and waiting) exceeds what running and starting ones can take, or the minimum is not met. */
  private scale(): void {
    if (this.closing) return;
    const live = [...this.instances].filter((instance) => instance.state === "starting" || instance.state === "ready");
    const inFlight = live.reduce((sum, instance) => sum + instance.inFlight, 0);
    const capacity = live.length * this.settings.concurrency;
    const wanted = live.length < this.settings.minInstances || inFlight + this.waiting.length > capacity;
    if (!wanted || live.length >= this.settings.maxInstances) return;
    const wait = this.nextStartAt - performance.now();
    if (wait > 0) {
      this.startTimer ??= setTimeout(() => {
        this.startTimer = null;
        this.scale();
      }, wait);
      return;
    }
    void this.startInstance();
    this.scale();
  }

  private async startInstance(): Promise<void> {
    const settings = this.settings;
    const instance = new Instance({
      app: settings.name,
      id: this.context.nextInstanceId(settings.name),
      support: this.context.support,
      runtimeRoot: this.context.runtimeRoot,
      concurrency: settings.concurrency,
      requestTimeoutMs: this.context.requestTimeoutMs,
      ...(settings.healthPath !== undefined ? { healthPath: settings.healthPath } : {}),
      // The spec is filled in below, once the container is known; the instance is counted from now, so scale() sees it.
      spec: { readOnly: [], argv: [], cwd: "/", env: {}, network: "none" },
    });
    this.instances.add(instance);
    const began = performance.now();
    try {
      const container = await this.context.containerFor(this.digest);
      Object.assign(instance.options.spec, {
        readOnly: container.readOnly,
        argv: container.argv,
        cwd: container.dir,
        // Compiled modules go to the app's own cache, writable and shared by its instances: the container is read-only, and compiling on every cold start would cost more than the start itself.
        env: { ...container.env, ...(this.context.cacheDir !== undefined ? { PYTHONPYCACHEPREFIX: CACHE_INSIDE } : {}), ...settings.env },
        network: settings.network ? "host" : "none",
        ...(this.context.uid !== undefined ? { uid: this.context.uid } : {}),
        ...(this.context.cacheDir !== undefined ? { cacheDir: this.context.cacheDir } : {}),
        ...(settings.memoryBytes !== undefined ? { memoryBytes: settings.memoryBytes } : {}),
        ...(settings.maxProcesses !== undefined ? { maxProcesses: settings.maxProcesses } : {}),
      });
      await instance.start(Math.max(settings.startTimeoutMs - (performance.now() - began), 0));
    } catch (error) {
      this.instances.delete(instance);
      this.startFailed(error);
      return;
    }
    this.stats.coldStarts += 1;
    progress(`app ${settings.name}: instance ${instance.id} ready in ${Math.round(performance.now() - began)} ms`);
    void instance.ended.then((exit) => this.ended(instance, describeExit(exit)));
    this.dispatch();
    this.scheduleIdleStop(instance);
  }

  private startFailed(error: unknown): void {
    const lines = error instanceof StartFailure ? error.lastLines : [];
    const reason = error instanceof Error ? error.message : String(error);
    writeErr(`pypakr serve: app ${this.settings.name} could not start: ${reason}${lines.length > 0 ? `; its last output lines:\n${lines.map((line) => `  [${this.settings.name}] ${line}`).join("\n")}` : ""}\n`);
    this.backOff();
    // Requests waiting for this start get 503 now rather than at their timeout, unless other instances can still serve them.
    const live = [...this.instances].some((instance) => instance.state === "starting" || instance.state === "ready");
    if (!live) {
      for (const waiter of this.waiting.splice(0)) {
        clearTimeout(waiter.timer);
        this.stats.rejected += 1;
        waiter.reject(new Unavailable(`app ${this.settings.name} could not start: ${reason}`, 503, Math.ceil(this.backoffMs() / 1000)));
      }
    }
    this.scale();
  }

  /** After an instance ends: a stop we asked for is normal; anything else is a crash, reported, and the pool recovers. */
  private ended(instance: Instance, how: string): void {
    this.instances.delete(instance);
    if (!instance.stopRequested) {
      this.stats.crashes += 1;
      writeErr(`pypakr serve: app ${this.settings.name}: instance ${instance.id} ended unexpectedly (${how})\n`);
      const servedLong = instance.readyAt !== null && performance.now() - instance.readyAt > STABLE_AFTER_MS;
      if (servedLong) this.crashesInARow = 0;
      this.backOff();
    }
    this.scale();
  }

  private backoffMs(): number {
    return Math.min(BACKOFF_FIRST_MS * 2 ** Math.max(this.crashesInARow - 1, 0), BACKOFF_MAX_MS);
  }

  private backOff(): void {
    this.crashesInARow += 1;
    this.nextStartAt = performance.now() + this.backoffMs();
  }

  private scheduleIdleStop(instance: Instance): void {
    if (instance.inFlight > 0 || instance.state !== "ready") return;
    const since = instance.idleSince;
    setTimeout(() => {
      if (instance.state !== "ready" || instance.inFlight > 0 || instance.idleSince !== since || this.waiting.length > 0) return;
      const ready = [...this.instances].filter((other) => other.state === "ready").length;
      if (ready <= this.settings.minInstances) return;
      progress(`app ${this.settings.name}: instance ${instance.id} idle for ${this.settings.idleTimeoutMs} ms, stopping`);
      void instance.stop(this.settings.stopGraceMs);
    }, this.settings.idleTimeoutMs).unref();
  }
}
