#!/usr/bin/env node
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { PypakrError, USAGE_EXIT_CODE } from "../util/errors.js";
import { writeErr, writeOut } from "../util/log.js";
import { printableLine } from "../util/printable.js";
import { buildProgram, isCommanderExit } from "./program.js";

/** Set by the bundler (scripts/bundle.mjs); the unbundled build reads package.json. */
declare const PYPAKR_VERSION: string | undefined;

function version(): string {
  if (typeof PYPAKR_VERSION === "string") return PYPAKR_VERSION;
  const manifest = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return manifest.version;
}

/**
 * A message's later lines (a failed build's last lines of output, a tool's
 * stderr) are indented, so that only pypakr's own lines start with "pypakr:"
 * and no text inside a message can pass for an error or a hint of ours.
 */
function indentContinuation(message: string): string {
  return message.replace(/\n/g, "\n  ");
}

const INTERNAL_HINT = "this is a bug in pypakr; run again with --debug and report the output.";

/**
 * The only place that prints errors: message, then hint; a stack only with
 * --debug. A hint is one line by contract (the command that fixes it), so a
 * line break in it is shown escaped; writeErr makes all of it printable.
 */
function report(error: unknown, debug: boolean): number {
  if (error instanceof PypakrError) {
    writeErr(`pypakr: error: ${indentContinuation(error.message)}\n`);
    if (error.hint) writeErr(`pypakr: hint: ${printableLine(error.hint)}\n`);
    if (debug && error.stack) writeErr(`${error.stack}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  writeErr(`pypakr: internal error: ${indentContinuation(message)}\n`);
  if (debug && error instanceof Error && error.stack) writeErr(`${error.stack}\n`);
  else writeErr(`pypakr: hint: ${INTERNAL_HINT}\n`);
  return 1;
}

/**
 * The error of a command run with --json, as one JSON document on stderr
 * (stdout stays for results, so a script reading it never mistakes an error
 * for one): `{"error": {"code", "message", "hint"}}`, the code from
 * ERROR_CODES. A stack still follows with --debug.
 */
function reportJson(error: unknown, debug: boolean): number {
  const known = error instanceof PypakrError;
  const body = {
    code: known ? error.code : "internal",
    message: error instanceof Error ? error.message : String(error),
    hint: known ? (error.hint ?? null) : INTERNAL_HINT,
  };
  writeErr(`${JSON.stringify({ error: body }, null, 2)}\n`);
  if (debug && error instanceof Error && error.stack) writeErr(`${error.stack}\n`);
  return known ? error.exitCode : 1;
}

/**
 * True when the command line asks a command that has --json for it. Read from
 * the words, as --debug is, because an option's own check (--env) can fail
 * before commander has parsed a --json that comes after it. The command is
 * the first word that is no option (the global ones take no value).
 */
function ranWithJson(program: Command, argv: readonly string[]): boolean {
  const name = argv.slice(2).find((word) => !word.startsWith("-"));
  const command = program.commands.find((candidate) => candidate.name() === name);
  return (command?.options.some((option) => option.long === "--json") ?? false) && asksForJson(argv);
}

/** Whether --json stands among the words before "--" (those after it are the program's). */
function asksForJson(argv: readonly string[]): boolean {
  const words = argv.slice(2);
  const end = words.indexOf("--");
  return (end === -1 ? words : words.slice(0, end)).includes("--json");
}

/**
 * The oldest Node.js pypakr runs on: 22.15 has zstd in node:zlib, which
 * images' layers use. package.json's engines says the same for npm.
 */
const OLDEST_NODE = { major: 22, minor: 15 };

function nodeTooOld(): PypakrError | null {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  if (major > OLDEST_NODE.major || (major === OLDEST_NODE.major && minor >= OLDEST_NODE.minor)) return null;
  const wanted = `${OLDEST_NODE.major}.${OLDEST_NODE.minor}`;
  return new PypakrError(`pypakr needs Node.js ${wanted} or newer, and ${process.execPath} is ${process.versions.node}`, {
    code: "node-too-old",
    hint: `Install Node.js 24 LTS (https://nodejs.org, or: npm install -g node@24), or point PYPAKR_NODE at a Node.js ${wanted}+ binary.`,
  });
}

async function main(): Promise<void> {
  const debug = process.argv.includes("--debug");
  const oldNode = nodeTooOld();
  if (oldNode) {
    // No program is built on an old Node, so --json is read from the words alone.
    process.exitCode = asksForJson(process.argv) ? reportJson(oldNode, debug) : report(oldNode, debug);
    return;
  }
  const program = buildProgram(version(), (code) => (process.exitCode = code));
  if (process.argv.length <= 2) {
    writeOut(program.helpInformation());
    return;
  }
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    if (isCommanderExit(error)) {
      process.exitCode = error.exitCode === 0 ? 0 : USAGE_EXIT_CODE;
      return;
    }
    process.exitCode = ranWithJson(program, process.argv) ? reportJson(error, debug) : report(error, debug);
  }
}

await main();
