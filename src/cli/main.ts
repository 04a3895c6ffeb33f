#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { PypakrError, USAGE_EXIT_CODE } from "../util/errors.js";
import { buildProgram, isCommanderExit } from "./program.js";

/** Set by the bundler (scripts/bundle.mjs); the unbundled build reads package.json. */
declare const PYPAKR_VERSION: string | undefined;

function version(): string {
  if (typeof PYPAKR_VERSION === "string") return PYPAKR_VERSION;
  const manifest = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return manifest.version;
}

/** The only place that prints errors: message, then hint; a stack only with --debug. */
function report(error: unknown, debug: boolean): number {
  if (error instanceof PypakrError) {
    process.stderr.write(`pypakr: error: ${error.message}\n`);
    if (error.hint) process.stderr.write(`pypakr: hint: ${error.hint}\n`);
    if (debug && error.stack) process.stderr.write(`${error.stack}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`pypakr: internal error: ${message}\n`);
  if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  else process.stderr.write("pypakr: hint: this is a bug in pypakr; run again with --debug and report the output.\n");
  return 1;
}

async function main(): Promise<void> {
  const debug = process.argv.includes("--debug");
  const program = buildProgram(version(), (code) => (process.exitCode = code));
  if (process.argv.length <= 2) {
    process.stdout.write(program.helpInformation());
    return;
  }
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    if (isCommanderExit(error)) {
      process.exitCode = error.exitCode === 0 ? 0 : USAGE_EXIT_CODE;
      return;
    }
    process.exitCode = report(error, debug);
  }
}

await main();
