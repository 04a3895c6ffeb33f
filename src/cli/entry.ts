/**
 * The bundle's entry point: turns on Node's compile cache, then loads the
 * CLI. Compiling the CLI's code was a third of a short command's time
 * (`create-container` from a stored image); with the cache, the second run
 * of each command reads V8's code from disk instead. The cache sits in the
 * user's own cache directory, not Node's default under /tmp, where another
 * user could plant code for us to run. Node skips the cache by itself when
 * that directory cannot be written, or NODE_DISABLE_COMPILE_CACHE is set.
 */
import { enableCompileCache } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";

function cacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.startsWith("/") ? xdg : join(homedir(), ".cache"), "pypakr", "node-compile-cache");
}

enableCompileCache(cacheDir());
await import("./main.js");
