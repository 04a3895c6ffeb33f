/**
 * The bundle's entry point: turns on Node's compile cache, then loads the
 * CLI. Compiling the CLI's code was a third of a short command's time
 * (`create-container` from a stored image); with the cache, the second run
 * of each command reads V8's code from disk instead. The cache sits in the
 * user's own cache directory, not Node's default under /tmp, where another
 * user could plant code for us to run. Node skips the cache by itself when
 * that directory cannot be written, or NODE_DISABLE_COMPILE_CACHE is set;
 * a Node.js too old to have one gets main's message about its version.
 */
// A namespace import: a named import of a function Node 20 lacks would fail to link, before main's version check could say what to do.
import * as nodeModule from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";

function cacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.startsWith("/") ? xdg : join(homedir(), ".cache"), "pypakr", "node-compile-cache");
}

const enableCompileCache = nodeModule.enableCompileCache as typeof nodeModule.enableCompileCache | undefined;
enableCompileCache?.(cacheDir());
await import("./main.js");
