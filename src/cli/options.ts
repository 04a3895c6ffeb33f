/**
 * Every command option, declared once: each is a zod schema (what a command
 * reads, typed) registered with the commander option that declares it (what
 * the user types and sees in --help). A command lists its options as a
 * shape of these; the shape is its help and its parser both, so the two
 * cannot drift and no command reads an option through a cast.
 */
import { Option } from "commander";
import * as z from "zod";
import { usageError } from "../util/errors.js";

const declarations = new WeakMap<z.ZodType, () => Option>();

function declared<S extends z.ZodType>(schema: S, declare: () => Option): S {
  declarations.set(schema, declare);
  return schema;
}

/** The commander option a schema of this module declares (a new one each time: a command owns its options). */
export function commanderOption(schema: z.ZodType): Option {
  const declaration = declarations.get(schema);
  if (!declaration) throw new Error("an option schema that src/cli/options.ts did not declare");
  return declaration();
}

/** A switch: false unless given. */
export function flag(flags: string, description: string): z.ZodDefault<z.ZodBoolean> {
  return declared(z.boolean().default(false), () => new Option(flags, description));
}

/** An option that takes a value and may be left out. */
export function text(flags: string, description: string): z.ZodOptional<z.ZodString> {
  return declared(z.string().optional(), () => new Option(flags, description));
}

/** An option that takes a value and must be given. */
export function required(flags: string, description: string): z.ZodString {
  return declared(z.string(), () => new Option(flags, description).makeOptionMandatory());
}

/** One of a few words, with a default. */
export function choice<const T extends readonly [string, ...string[]]>(flags: string, description: string, choices: T, fallback: T[number]): z.ZodDefault<z.ZodEnum<{ [K in T[number]]: K }>> {
  return declared(z.enum(choices).default(fallback), () => new Option(flags, description).choices(choices).default(fallback));
}

function collectEnv(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(value);
  if (!match) throw usageError("usage", `--env "${value}" is not KEY=VALUE`, "Write it as --env NAME=value.");
  return { ...previous, [match[1] ?? ""]: match[2] ?? "" };
}

/** Repeatable KEY=VALUE pairs, checked as they are parsed. */
export function environment(flags: string, description: string): z.ZodDefault<z.ZodRecord<z.ZodString, z.ZodString>> {
  return declared(z.record(z.string(), z.string()).default({}), () => new Option(flags, description).argParser(collectEnv));
}

/** An option that may be given many times: its values in order. */
export function repeatable(flags: string, description: string): z.ZodDefault<z.ZodArray<z.ZodString>> {
  return declared(z.array(z.string()).default([]), () => new Option(flags, description).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]));
}

/** The flags several commands share, spelt one way. */
export const FLAGS = {
  container: "-c, --container <DIR>",
  image: "-i, --image <IMAGE>",
  imageFile: "-i, --image <IMAGE.tar>",
  output: "-o, --output <IMAGE.tar>",
  /** -o for what is not an image (an SBOM, a lock file). */
  outputFile: "-o, --output <FILE>",
  tag: "-t, --tag <NAME:TAG>",
  python: "--python <PATH>",
} as const;

/** --json, in the one wording every command that has it uses. */
export function json(): z.ZodDefault<z.ZodBoolean> {
  return flag("--json", "print the result as JSON");
}

/** The connection options every command that may talk to a registry takes. */
export function registryOptions(): { insecure: z.ZodDefault<z.ZodBoolean>; caFile: z.ZodOptional<z.ZodString> } {
  return {
    insecure: flag("--insecure", "talk plain HTTP to the registry (registries on 127.0.0.0/8, ::1 and localhost get it without this)"),
    caFile: text("--ca-file <FILE>", "trust this CA certificate (PEM) for the registry's HTTPS; HTTPS even on loopback"),
  };
}

/** The registry options as the registry client takes them: only those given. */
export function connection(options: { insecure: boolean; caFile?: string | undefined }): { insecure?: boolean; caFile?: string } {
  return { ...(options.insecure ? { insecure: true } : {}), ...(options.caFile !== undefined ? { caFile: options.caFile } : {}) };
}
