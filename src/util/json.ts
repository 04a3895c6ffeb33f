/**
 * The one door for JSON that pypakr stored and reads back (records, listings,
 * locks) or that a tool it runs prints: parsed and checked against a schema,
 * so damage surfaces here as a PypakrError that names the file and the fix,
 * never later as a crash on a value of the wrong type.
 */
import * as fs from "node:fs/promises";
import type * as z from "zod";
import { PypakrError, type ErrorCode } from "./errors.js";

/** What a damaged document raises: its code and hint, and its message given what is wrong. */
export interface JsonDamage {
  code: ErrorCode;
  hint?: string;
  /** The message; `detail` says what is wrong ("not JSON", or the first field that fails). Default: "WHAT is damaged (DETAIL)". */
  message?: (detail: string) => string;
}

/** First problem zod found, as one line a user can act on. */
export function describeSchemaError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid document";
  const where = issue.path.length > 0 ? issue.path.join(".") : "the document";
  return `${where}: ${issue.message}`;
}

/** `text` parsed and checked against `schema`; `what` names it in the default message. */
export function parseJson<S extends z.ZodType>(text: string, schema: S, what: string, damage: JsonDamage): z.infer<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw damaged(what, "not JSON", damage);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw damaged(what, describeSchemaError(parsed.error), damage);
  return parsed.data;
}

/**
 * `text` parsed and checked against `schema`, or undefined when it is not
 * JSON or fails the schema: for documents that only ever add to what is
 * known already (a registry's error body), where damage is no error.
 */
export function tryParseJson<S extends z.ZodType>(text: string, schema: S): z.infer<S> | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/**
 * The JSON file `file`, parsed and checked against `schema`. A file that
 * cannot be read throws the system error as it is (ENOENT: the caller says
 * what a missing file means); one that is not JSON or fails the schema throws
 * the PypakrError `damage` describes.
 */
export async function readJson<S extends z.ZodType>(file: string, schema: S, damage: JsonDamage): Promise<z.infer<S>> {
  return parseJson(await fs.readFile(file, "utf8"), schema, file, damage);
}

function damaged(what: string, detail: string, damage: JsonDamage): PypakrError {
  const message = damage.message ? damage.message(detail) : `${what} is damaged (${detail})`;
  return new PypakrError(message, { code: damage.code, hint: damage.hint });
}
