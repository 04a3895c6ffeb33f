/**
 * How a command prints its result: with --json, one JSON document on stdout;
 * without it, text on stdout (a listing, a report) or, for a command whose
 * result is a file it wrote, one notice on stderr. All of it through the one
 * door of util/log.ts, which makes untrusted text printable.
 */
import { writeErr, writeJson, writeOut } from "../util/log.js";

export interface Presentation<T> {
  /** The document --json prints; the result itself when left out. */
  json?: (result: T) => unknown;
  /** What stdout gets without --json. */
  text?: (result: T) => string;
  /** What stderr gets without --json, after "pypakr: " (e.g. "wrote IMAGE.tar"). */
  notice?: (result: T) => string;
}

export function report<T>(result: T, options: { json: boolean }, presentation: Presentation<T>): void {
  if (options.json) {
    writeJson(presentation.json ? presentation.json(result) : result);
    return;
  }
  if (presentation.text) writeOut(presentation.text(result));
  if (presentation.notice) writeErr(`pypakr: ${presentation.notice(result)}\n`);
}
