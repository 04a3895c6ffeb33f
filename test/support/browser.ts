/**
 * Headless Chromium for the browser tests: Debian's `chromium` package
 * driven by playwright-core (which downloads no browser of its own). As root
 * Playwright passes --no-sandbox itself. Launch once per test file (~0.6 s)
 * and a new context per test; close it in an `after`.
 *
 * scripts/test.sh installs the package; where it is missing the browser
 * tests skip with a message that names it.
 */
import { existsSync, mkdirSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";

/** The real binary (/usr/bin/chromium is a shell wrapper around it). */
export const CHROMIUM = "/usr/lib/chromium/chromium";

/** For describe()'s `skip`: why the browser tests cannot run here, or false. */
export function chromiumMissing(): string | false {
  if (existsSync(CHROMIUM)) return false;
  return `Debian's chromium is not installed (${CHROMIUM}): apt-get install --no-install-recommends chromium (scripts/test.sh does)`;
}

const launched = new Set<Browser>();
// A test process that ends without its after() (interrupted) closes its browsers too.
process.once("beforeExit", () => {
  for (const browser of launched) void browser.close();
});

/** Headless Chromium; launching takes at most 30 s. */
export async function launchBrowser(): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 30_000 });
  launched.add(browser);
  browser.on("disconnected", () => launched.delete(browser));
  return browser;
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/test/support -> the repository root. */
const REPO = path.resolve(here, "..", "..", "..");

/**
 * Where a test file keeps its screenshots: test-artifacts/NAME in the
 * repository (git-ignored), or $PYPAKR_TEST_ARTIFACTS/NAME; made if missing.
 */
export function artifactsDir(name: string): string {
  const dir = path.join(process.env.PYPAKR_TEST_ARTIFACTS ?? path.join(REPO, "test-artifacts"), name);
  mkdirSync(dir, { recursive: true });
  return dir;
}
