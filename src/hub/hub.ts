/**
 * `pypakr hub`: start (data dir, tokens, index, registry client, server, the
 * first reconcile and its timer), print where it listens and the registry's
 * notifications snippet, and on SIGINT or SIGTERM stop: no new requests,
 * those in flight and the queued index work get a few seconds, the index
 * is closed cleanly.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Config } from "../config/index.js";
import { RegistryBrowser } from "../registry/index.js";
import { cycloneDxDocument, pylockDocument, readLayerMetadata } from "../sbom/index.js";
import { PypakrError } from "../util/errors.js";
import { progress, writeErr } from "../util/log.js";
import { ADMIN_TOKEN_ENV, ADMIN_TOKEN_FILE, EVENTS_TOKEN_ENV, EVENTS_TOKEN_FILE, type HubToken, loadToken } from "./access.js";
import { diffTags } from "./diff.js";
import { HubIndex } from "./index-db.js";
import { Indexer } from "./indexer.js";
import type { HubParts } from "./parts.js";
import { reconcile } from "./reconcile.js";
import { parseSearchQuery } from "./search-query.js";
import { HubServer } from "./server.js";
import type { HubSettings } from "./settings.js";

/** On stop, queued index work gets this long; what is left is found by the next start's reconcile. */
const STOP_GRACE_MS = 5_000;

export async function startHub(_config: Config, settings: HubSettings, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  // First, so that a registry address it refuses leaves nothing behind.
  const registry = new RegistryBrowser(settings.registry, { ...(settings.insecure ? { insecure: true } : {}), ...(settings.caFile !== undefined ? { caFile: settings.caFile } : {}), env });
  try {
    await fs.mkdir(settings.dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new PypakrError(`cannot make the hub's data dir ${settings.dataDir}: ${(error as Error).message}`, { code: "write-failed", hint: "Give a directory the hub can write with --data DIR." });
  }
  const adminToken = await loadToken(settings.dataDir, ADMIN_TOKEN_FILE, ADMIN_TOKEN_ENV, env);
  const eventsToken = await loadToken(settings.dataDir, EVENTS_TOKEN_FILE, EVENTS_TOKEN_ENV, env);
  if (adminToken.value === eventsToken.value) throw new PypakrError("the hub's admin and events tokens are the same", { code: "bad-config", hint: "The events token sits in the registry's config and log: give it its own value." });
  const index = HubIndex.open(path.join(settings.dataDir, "index.sqlite"));
  const parts: HubParts = { index, registry, parseSearchQuery, diffTags, readLayerMetadata, cycloneDxDocument, pylockDocument };
  const log = (line: string) => writeErr(line);
  const indexer = new Indexer(parts, log);
  const server = new HubServer(parts, indexer, { listen: settings.listen, private: settings.private, adminToken: adminToken.value, eventsToken: eventsToken.value }, log);
  let address: { host: string; port: number };
  try {
    address = await server.listen();
  } catch (error) {
    index.close();
    await registry.close();
    throw error;
  }
  const base = `http://${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}`;
  progress(`hub for ${registry.registry} listening on ${base}${settings.private ? " (private: reads need a login)" : ""}; data in ${settings.dataDir}`);
  progress(`admin token: ${adminToken.file ?? `$${ADMIN_TOKEN_ENV}`}`);
  writeErr(notificationsSnippet(base, eventsToken));

  let stopping = false;
  let running: Promise<void> | null = null;
  const runReconcile = () => {
    if (running !== null || stopping) return;
    running = reconcile(parts, indexer, log)
      .then((result) => progress(`reconciled with ${registry.registry}: ${result.repositories} repositories, ${result.tags} tags, ${result.indexed} indexed, ${result.removed} removed${result.failures > 0 ? `, ${result.failures} failed (see above)` : ""} in ${result.ms} ms`))
      .catch((error: unknown) => log(`pypakr hub: reconcile failed: ${error instanceof Error ? error.message : String(error)}\n`))
      .finally(() => (running = null));
  };
  runReconcile();
  const timer = settings.reconcileIntervalMs === null ? null : setInterval(runReconcile, settings.reconcileIntervalMs);

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      progress(`${signal}: stopping`);
      resolve();
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  stopping = true;
  if (timer !== null) clearInterval(timer);
  await server.close(STOP_GRACE_MS);
  const grace = new Promise<void>((resolve) => setTimeout(resolve, STOP_GRACE_MS).unref());
  await Promise.race([Promise.all([indexer.idle(), running ?? Promise.resolve()]), grace]);
  index.close();
  await registry.close();
  progress("stopped");
  return 0;
}

/** What to add to the registry's config.yml (docker distribution) so its notifications reach the hub; the token itself is not printed. */
export function notificationsSnippet(base: string, eventsToken: HubToken): string {
  const wildcard = /^http:\/\/(0\.0\.0\.0|\[::\]):/.test(base);
  const url = wildcard ? base.replace(/^http:\/\/(0\.0\.0\.0|\[::\])/, "http://HUB-ADDRESS") : base;
  const token = eventsToken.file !== null ? `<the token in ${eventsToken.file}>` : `<the value of $${EVENTS_TOKEN_ENV}>`;
  return [`pypakr hub: add this to the registry's config.yml (notifications), replacing ${token}${wildcard ? " and HUB-ADDRESS (an address of this machine the registry reaches)" : ""}:`, notificationsYaml(`${url}/events`, token)].join("\n");
}

/**
 * The registry's notifications block (docker distribution 2.x) for a hub's
 * events URL: manifest pushes and deletes with their references, blob events
 * and pulls left out (2.8 drops pulls only when a media type is ignored too),
 * a 1 s backoff so a missed event comes again soon. The tests' registries use
 * it as printed.
 */
export function notificationsYaml(eventsUrl: string, token: string): string {
  return [
    "notifications:",
    "  events:",
    "    includereferences: true",
    "  endpoints:",
    "    - name: pypakr-hub",
    `      url: ${eventsUrl}`,
    "      headers:",
    `        Authorization: [Bearer ${token}]`,
    "      timeout: 2s",
    "      threshold: 5",
    "      backoff: 1s",
    "      ignoredmediatypes: [application/octet-stream]",
    "      ignore:",
    "        mediatypes: [application/octet-stream]",
    "        actions: [pull]",
    "",
  ].join("\n");
}
