/**
 * The registry's notifications (docker distribution's envelope, one POST per
 * event in 2.8, several allowed): read as hostile input, each event on its
 * own so that one odd event does not cost the others. Only what the hub acts
 * on is kept: a manifest pushed under a tag (index it), a tag deleted, a
 * manifest deleted by digest (every tag on it goes). Pulls (the hub's own
 * manifest reads cause them), blob events and pushes by digest are dropped.
 */
import * as z from "zod";
import { isDigest, isRepositoryName, isTag } from "../image/index.js";
import { tryParseJson } from "../util/json.js";

/** The envelope's media type; registries send it, but other senders' JSON is read the same. */
export const EVENTS_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json";
/** Events read from one envelope; more are dropped (2.8 sends one per request). */
export const MAX_EVENTS = 1000;

const short = (max: number) => z.string().max(max);

const eventSchema = z.object({
  timestamp: short(64).optional(),
  action: short(32),
  target: z.object({
    mediaType: short(255).optional(),
    digest: short(100).optional(),
    repository: short(255),
    tag: short(128).optional(),
  }),
  actor: z.object({ name: short(256).optional() }).nullish(),
});

const envelopeSchema = z.object({ events: z.array(z.unknown()).max(100_000) });

export type HubEvent =
  | { kind: "push"; repository: string; tag: string; digest: string; mediaType: string; pushedAt: string | null; pushedBy: string | null }
  | { kind: "delete-tag"; repository: string; tag: string }
  | { kind: "delete-manifest"; repository: string; digest: string };

export interface ParsedEvents {
  events: HubEvent[];
  /** Events skipped because they were malformed (not those ignored on purpose). */
  malformed: number;
}

/** Blob pushes carry this media type (or a layer's). */
const BLOB_MEDIA_TYPE = "application/octet-stream";
const MANIFEST_MEDIA_TYPES = new Set([
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
]);

/** The events of an envelope's JSON text; null when it is no envelope at all. */
export function parseEvents(text: string): ParsedEvents | null {
  const envelope = tryParseJson(text, envelopeSchema);
  if (envelope === undefined) return null;
  const events: HubEvent[] = [];
  let malformed = 0;
  for (const raw of envelope.events.slice(0, MAX_EVENTS)) {
    const parsed = eventSchema.safeParse(raw);
    if (!parsed.success) {
      malformed += 1;
      continue;
    }
    const event = parsed.data;
    const { repository, tag, digest, mediaType } = event.target;
    if (!isRepositoryName(repository) || (tag !== undefined && !isTag(tag)) || (digest !== undefined && !isDigest(digest))) {
      malformed += 1;
      continue;
    }
    if (event.action === "push") {
      // A blob, or a manifest pushed by digest only: nothing a tag list shows.
      if (tag === undefined || digest === undefined || mediaType === undefined || mediaType === BLOB_MEDIA_TYPE || !MANIFEST_MEDIA_TYPES.has(mediaType)) continue;
      events.push({ kind: "push", repository, tag, digest, mediaType, pushedAt: eventTime(event.timestamp), pushedBy: actorName(event.actor?.name) });
    } else if (event.action === "delete") {
      if (tag !== undefined) events.push({ kind: "delete-tag", repository, tag });
      else if (digest !== undefined) events.push({ kind: "delete-manifest", repository, digest });
    }
  }
  return { events, malformed: malformed + Math.max(0, envelope.events.length - MAX_EVENTS) };
}

/** The event's time as UTC ISO (the registry writes nanoseconds, Date keeps milliseconds); null when it is none. */
function eventTime(timestamp: string | undefined): string | null {
  if (timestamp === undefined || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/.test(timestamp)) return null;
  const date = new Date(timestamp.replace(/(\.\d{3})\d+/, "$1"));
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** A user name as the registry's auth gave it: printable, capped. */
function actorName(name: string | undefined): string | null {
  if (name === undefined) return null;
  // eslint-disable-next-line no-control-regex -- control characters are what is dropped
  const clean = name.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, "").slice(0, 128);
  return clean === "" ? null : clean;
}
