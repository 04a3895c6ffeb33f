import { rmSync } from "node:fs";
import { pathsPendingCleanup } from "../util/fs.js";
import { killRunningGroups } from "../util/process-group.js";
import { writeErr } from "../util/log.js";

/**
 * On Ctrl-C or SIGTERM mid-work, removes what was half made, then dies as
 * interrupted. Returns a function that takes the handlers away again (for
 * `run`, which hands the signals to its program once the container is ready).
 */
export function cleanUpOnSignals(): () => void {
  const handlers = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((signal) => {
    const handler = () => {
      // A build step's processes (in their own group, out of the terminal's reach) first, so none writes into what is removed.
      killRunningGroups();
      for (const file of pathsPendingCleanup()) rmSync(file, { recursive: true, force: true });
      writeErr(`pypakr: interrupted (${signal}); nothing was left behind\n`);
      process.exit(signal === "SIGINT" ? 130 : signal === "SIGTERM" ? 143 : 129);
    };
    process.once(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}
