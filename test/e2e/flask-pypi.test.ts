/**
 * The original's Flask walkthrough, against the real PyPI (not hermetic:
 * needs network access to pypi.org). setup is `pip install Flask`; run
 * serves hello.py; the test fetches / over HTTP.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { CLI, cliEnv, expectOk, freePort, makeTempDir, pypakr, removeDir, sh, writeExecutable } from "../support/helpers.js";

const HELLO = `from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello, World!"
`;

async function fetchWithRetry(url: string, deadline: number): Promise<string> {
  for (;;) {
    try {
      const response = await fetch(url);
      return await response.text();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

let dir: string;
before(async () => (dir = await makeTempDir()));
after(() => removeDir(dir));

test("Flask walkthrough (real PyPI): the container serves Hello, World! and its flask script works", { timeout: 600_000 }, async () => {
  const source = path.join(dir, "flask-src");
  await writeExecutable(path.join(source, "setup"), "#!/bin/sh\nset -e\npip install Flask\n");
  await writeExecutable(path.join(source, "run"), '#!/bin/sh\nexec flask --app hello run --host 127.0.0.1 --port "${PORT:-5000}"\n');
  await fs.writeFile(path.join(source, "hello.py"), HELLO);
  const image = path.join(dir, "flask.tar");
  expectOk(await pypakr(["create-image", "-s", source, "-i", image, "-t", "hello-flask:1"], { timeoutMs: 540_000 }), "create-image with pip install Flask");
  const inspected = JSON.parse(expectOk(await pypakr(["inspect", "--json", image]), "inspect").stdout) as { distributions: { name: string }[] };
  assert.ok(inspected.distributions.some((distribution) => distribution.name.toLowerCase() === "flask"), "Flask has its own layer");
  assert.ok(inspected.distributions.some((distribution) => distribution.name.toLowerCase() === "werkzeug"), "so do its dependencies");

  const container = path.join(dir, "flask-container");
  expectOk(await pypakr(["create-container", "-i", image, "-c", container]), "create-container");

  const routes = sh(`'${container}/bin/flask' --app hello routes`, { cwd: container });
  assert.equal(routes.code, 0, routes.stderr);
  assert.match(routes.stdout, /hello\s+GET\s+\//);

  const port = await freePort();
  const server = spawn(CLI, ["run", "-c", container], { env: cliEnv({ env: { PORT: String(port) } }), stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  server.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  server.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => server.on("close", (code, signal) => resolve({ code, signal })));
  try {
    assert.equal(await fetchWithRetry(`http://127.0.0.1:${port}/`, Date.now() + 30_000), "Hello, World!");
  } finally {
    server.kill("SIGTERM");
  }
  // The server (pypakr run execs it) stops cleanly or by the SIGTERM itself.
  const { code, signal } = await exited;
  assert.ok(code === 0 || code === 1 || signal === "SIGTERM", `server exit ${code} (${signal})\n${output}`);
});
