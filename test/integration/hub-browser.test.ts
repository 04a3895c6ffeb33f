/**
 * `pypakr hub` in headless Chromium (Debian's chromium through
 * playwright-core), as a user clicks through it: search as you type, copy a
 * pull command, open a tag, compare two tags, delete a tag as admin (login
 * form, confirmation). The hub runs beside a real docker-registry whose
 * notifications feed it; the images are generated pypakr images
 * (test/support/hub-images.ts) pushed over HTTP.
 *
 * Screenshots of the home, repository, tag and diff pages are kept in
 * test-artifacts/hub-browser/ (git-ignored; PYPAKR_TEST_ARTIFACTS moves it).
 * Skipped, saying which package is missing, without Debian's chromium.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { artifactsDir, chromiumMissing, launchBrowser } from "../support/browser.js";
import { CLI, cliEnv, freePort, makeTempDir, removeDir } from "../support/helpers.js";
import { appLayer, LayerPool, pypakrImage, RegistryPusher } from "../support/hub-images.js";
import { startHubRegistry, type HubRegistry } from "../support/hub-registry.js";

const WAIT = { timeout: 10_000 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const pool = new LayerPool();
const flask = (version: string) => pool.layer({ name: "Flask", version, licenseExpression: "BSD-3-Clause", requiresPython: ">=3.9", summary: "A simple framework for building complex web applications.", homepage: "https://palletsprojects.com/p/flask/" });
const werkzeug = pool.layer({ name: "Werkzeug", version: "3.1.3", licenseExpression: "BSD-3-Clause", requiresPython: ">=3.9" });
const jinja = pool.layer({ name: "Jinja2", version: "3.1.6", license: "BSD License", licenseClassifiers: ["OSI Approved :: BSD License"], requiresPython: ">=3.7" });
const click = pool.layer({ name: "click", version: "8.1.8", licenseClassifiers: ["OSI Approved :: BSD License"], requiresPython: ">=3.7" });
const gunicorn = pool.layer({ name: "gunicorn", version: "23.0.0", license: "MIT", requiresPython: ">=3.7", codeBytes: 20_000 });
const urllib3 = (version: string) => pool.layer({ name: "urllib3", version, licenseExpression: "MIT", requiresPython: ">=3.8" });
const requests = pool.layer({ name: "requests", version: "2.32.4", licenseExpression: "Apache-2.0", requiresPython: ">=3.8" });
const app = (text: string) => appLayer({ "app/__main__.py": `print(${JSON.stringify(text)})\n`, "run": "#!/bin/sh\nexec python -m app\n" });
const environment = { APP_MODULE: "shop.wsgi:app", GUNICORN_CMD_ARGS: "--workers 2" };

/** team/shop:1 and :2 differ as releases do: Flask upgraded, gunicorn added, urllib3 upgraded, click dropped. */
const shop1 = pypakrImage([flask("3.0.3"), werkzeug, jinja, click, urllib3("1.26.20"), requests], app("shop 1"), { created: "2026-11-29T10:00:00Z", entrypoint: ["gunicorn", "shop.wsgi:app"], environment });
const shop2 = pypakrImage([flask("3.1.1"), werkzeug, jinja, gunicorn, urllib3("2.3.0"), requests], app("shop 2"), { created: "2026-11-30T10:00:00Z", entrypoint: ["gunicorn", "shop.wsgi:app"], environment });
const billing = pypakrImage([requests, urllib3("2.3.0")], app("billing"), { created: "2026-11-30T11:00:00Z" });

const DESCRIPTION = "# The shop\n\nOur **Flask** storefront, served by gunicorn.\n\n- `/` the catalogue\n- `/cart` the basket\n\nRunbook: [wiki](https://example.com/shop).\n";

/** `pypakr hub` on a free loopback port; stopped (SIGTERM, then SIGKILL) in `after`. */
async function startHub(registry: HubRegistry, port: number, data: string, tokens: { admin: string; events: string }): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  const env = cliEnv({ env: { PYPAKR_HUB_ADMIN_TOKEN: tokens.admin, PYPAKR_HUB_EVENTS_TOKEN: tokens.events } });
  const child = spawn(CLI, ["hub", "--registry", registry.url, "--listen", `127.0.0.1:${port}`, "--data", data], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => (output = (output + chunk.toString("utf8")).slice(-8000));
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`pypakr hub exited before answering:\n${output}`);
    const response = await fetch(`${url}/-/health`, { signal: AbortSignal.timeout(1000) }).catch(() => null);
    await response?.body?.cancel();
    if (response?.ok) return { url, child, output: () => output };
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`pypakr hub did not answer /-/health within 20 s:\n${output}`);
    }
    await sleep(50);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

describe("the hub in a browser", { skip: chromiumMissing() }, () => {
  let work: string;
  let registry: HubRegistry;
  let hub: { url: string; child: ChildProcess; output: () => string };
  let browser: Browser;
  let shots: string;
  const admin = randomBytes(24).toString("base64url");
  const contexts: BrowserContext[] = [];

  /** A page in a context of its own, 1000 px wide; clipboard access granted for the hub's origin. */
  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    contexts.push(context);
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: hub.url });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT.timeout);
    return page;
  }

  async function health(): Promise<{ tags: number; pending: number }> {
    const response = await fetch(`${hub.url}/-/health`, { signal: AbortSignal.timeout(5000) });
    return (await response.json()) as { tags: number; pending: number };
  }

  before(async () => {
    work = await makeTempDir("pypakr-hub-browser-");
    shots = artifactsDir("hub-browser");
    const port = await freePort();
    const events = randomBytes(24).toString("base64url");
    registry = await startHubRegistry({ eventsUrl: `http://127.0.0.1:${port}/events`, eventsToken: events });
    hub = await startHub(registry, port, path.join(work, "data"), { admin, events });
    browser = await launchBrowser();
    const pusher = new RegistryPusher(registry.url);
    await pusher.push("team/shop", "1", shop1);
    await pusher.push("team/shop", "2", shop2);
    await pusher.push("team/billing", "1", billing);
    const deadline = Date.now() + 15_000;
    while ((await health()).tags < 3 || (await health()).pending > 0) {
      if (Date.now() > deadline) throw new Error(`the hub did not index the 3 pushed tags within 15 s: ${JSON.stringify(await health())}\n${hub.output()}`);
      await sleep(50);
    }
    const described = await fetch(`${hub.url}/api/repositories/team/shop/description`, {
      method: "PUT",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ description: DESCRIPTION }),
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(described.status, 200, await described.text());
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    if (hub) await stopChild(hub.child);
    await registry?.stop();
    if (work) await removeDir(work);
  });

  test("search as you type lists the tags holding flask 3.1, and a result opens the tag", async () => {
    const page = await newPage();
    await page.goto(`${hub.url}/`);
    await page.screenshot({ path: path.join(shots, "home.png"), fullPage: true });
    await page.locator("#q").pressSequentially("flask 3.1", { delay: 20 });
    const hit = page.locator("#live-results li a", { hasText: "team/shop:2" });
    await hit.waitFor(WAIT);
    const texts = await page.locator("#live-results li").allTextContents();
    assert.ok(!texts.some((text) => text.includes("team/shop:1")), `team/shop:1 holds Flask 3.0.3, yet the results list it: ${texts.join(" | ")}`);
    await page.screenshot({ path: path.join(shots, "search-as-you-type.png") });
    await hit.click();
    await page.waitForURL(`${hub.url}/r/team/shop/-/tags/2`, WAIT);
    assert.equal(await page.locator("h1").textContent(), "team/shop:2");
  });

  test("the repository page shows the description and copies a tag's pull command to the clipboard", async () => {
    const page = await newPage();
    await page.goto(`${hub.url}/r/team/shop`);
    assert.equal(await page.locator(".description h3, .description h1, .description h2").first().textContent(), "The shop");
    const row = page.locator("tbody tr", { has: page.locator("td a", { hasText: /^2$/ }) });
    const copy = row.locator("button.copy");
    await copy.waitFor({ state: "visible", ...WAIT });
    await page.screenshot({ path: path.join(shots, "repository.png"), fullPage: true });
    await copy.click();
    await page.waitForFunction((button) => button?.textContent === "Copied", await copy.elementHandle(), WAIT);
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(copied, `pypakr pull ${registry.host}/team/shop:2`);
  });

  test("a tag page lists each distribution with its version, license and Requires-Python, and the app files", async () => {
    const page = await newPage();
    await page.goto(`${hub.url}/r/team/shop`);
    await page.locator("tbody tr td a", { hasText: /^1$/ }).click();
    await page.waitForURL(`${hub.url}/r/team/shop/-/tags/1`, WAIT);
    assert.equal(await page.locator("h1").textContent(), "team/shop:1");
    const rows = await page.locator("table.layers tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent?.trim() ?? "")));
    const byName = new Map(rows.map((cells) => [cells[0], cells]));
    assert.deepEqual([...byName.keys()].sort(), ["click", "Flask", "Jinja2", "requests", "urllib3", "Werkzeug"].sort());
    assert.deepEqual(byName.get("Flask")?.slice(1, 5), ["3.0.3", "BSD-3-Clause", "py3-none-any", ">=3.9"]);
    assert.match(byName.get("Jinja2")?.[2] ?? "", /BSD License/);
    assert.ok(await page.locator("h2", { hasText: "App files" }).isVisible());
    assert.match((await page.locator(".command code").first().textContent()) ?? "", new RegExp(`^pypakr pull ${registry.host.replace(/\./g, "\\.")}/team/shop:1$`));
    await page.screenshot({ path: path.join(shots, "tag.png"), fullPage: true });
  });

  test("comparing two tags shows what was added, removed, upgraded", async () => {
    const page = await newPage();
    await page.goto(`${hub.url}/r/team/shop`);
    await page.locator("form.diff select[name=from]").selectOption("1");
    await page.locator("form.diff select[name=to]").selectOption("2");
    await page.locator("form.diff button[type=submit]").click();
    await page.waitForURL(/\/r\/team\/shop\/-\/diff\?from=1&to=2$/, WAIT);
    const rows = await page.locator("table.diff tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent?.trim() ?? "").join(" | ")));
    assert.deepEqual(rows.sort(), ["Flask | upgraded | 3.0.3 | 3.1.1", "click | removed | 8.1.8 | ", "gunicorn | added |  | 23.0.0", "urllib3 | upgraded | 1.26.20 | 2.3.0"].sort());
    await page.screenshot({ path: path.join(shots, "diff.png"), fullPage: true });
  });

  test("an admin logs in with the token and deletes a tag after confirming; the registry and the hub drop it", async () => {
    const page = await newPage();
    await page.goto(`${hub.url}/r/team/billing/-/tags/1`);
    assert.equal(await page.locator("a.danger").count(), 0, "no delete link before logging in");
    await page.locator("nav a", { hasText: "Admin login" }).click();
    await page.locator("input[name=token]").fill("not-the-token");
    await page.locator("form.login button[type=submit]").click();
    await page.locator(".notice.error").waitFor(WAIT);
    await page.locator("input[name=token]").fill(admin);
    await page.locator("form.login button[type=submit]").click();
    await page.waitForURL(`${hub.url}/r/team/billing/-/tags/1`, WAIT);
    await page.locator("a.danger", { hasText: "Delete this tag" }).click();
    assert.match((await page.locator("h1").textContent()) ?? "", /^Delete team\/billing:1\?$/);
    await page.screenshot({ path: path.join(shots, "delete-confirm.png"), fullPage: true });
    await page.locator("button.danger", { hasText: "Delete the tag" }).click();
    await page.locator("h1", { hasText: "Deleted" }).waitFor(WAIT);
    assert.match((await page.locator(".notice.info").textContent()) ?? "", /garbage collection/);

    const manifest = await fetch(`${registry.url}/v2/team/billing/manifests/${billing.manifest.digest}`, { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } });
    await manifest.body?.cancel();
    assert.equal(manifest.status, 404, "the registry no longer has the manifest");
    const deadline = Date.now() + 10_000;
    let status = 0;
    for (;;) {
      const response = await fetch(`${hub.url}/api/repositories/team/billing/-/tags/1`, { signal: AbortSignal.timeout(5000) });
      await response.body?.cancel();
      status = response.status;
      if (status === 404 || Date.now() > deadline) break;
      await sleep(50);
    }
    assert.equal(status, 404, "the hub no longer shows the tag");
  });
});
