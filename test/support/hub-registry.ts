/**
 * A registry for the hub's tests and bench: Debian's docker-registry (see
 * registry.ts, which starts and stops it) on 127.0.0.1 with delete enabled,
 * notifications POSTed to the hub's /events with `Authorization: Bearer
 * <token>` (manifest pushes and deletes only: blob events and pulls are left
 * out), and optionally htpasswd Basic auth.
 *
 * The notification URL goes into the registry's config at start: start the
 * hub (or a listener) first, on a port already known.
 */
import { startRegistry, type Registry } from "./registry.js";

export interface HubRegistryOptions {
  /** Where the registry POSTs its events, e.g. "http://127.0.0.1:PORT/events"; none without it. */
  eventsUrl?: string;
  /** The events token the hub expects (sent as `Authorization: Bearer <token>`). */
  eventsToken?: string;
  /** Basic auth (bcrypt htpasswd) with these users (user -> password); none without it. */
  users?: Record<string, string>;
}

export interface HubRegistry {
  /** "http://127.0.0.1:PORT": what `pypakr hub --registry` takes. */
  url: string;
  /** "127.0.0.1:PORT": what references start with. */
  host: string;
  /** `Basic ...` for the first user, when Basic auth is on; else null. */
  authorization: string | null;
  /** The registry itself (storage, blob counts, kill/restart). */
  registry: Registry;
  /** Stops the registry and removes its storage. */
  stop(): Promise<void>;
}

export async function startHubRegistry(options: HubRegistryOptions = {}): Promise<HubRegistry> {
  if (options.eventsUrl !== undefined && !/^http:\/\/127\.0\.0\.1:\d+\//.test(options.eventsUrl)) throw new Error(`the events URL must be on 127.0.0.1: ${options.eventsUrl}`);
  const registry = await startRegistry({
    ...(options.users ? { auth: "htpasswd" as const, users: options.users } : {}),
    ...(options.eventsUrl !== undefined ? { notifications: { url: options.eventsUrl, token: options.eventsToken ?? "" } } : {}),
  });
  const [user, password] = Object.entries(options.users ?? {})[0] ?? [];
  return {
    url: `http://${registry.host}`,
    host: registry.host,
    authorization: user !== undefined ? `Basic ${Buffer.from(`${user}:${password ?? ""}`).toString("base64")}` : null,
    registry,
    stop: () => registry.stop(),
  };
}
