/**
 * `pypakr export` as a user meets it, with real tools and no Docker engine:
 * a Flask app built offline from real wheels, exported onto a Debian
 * runtime image built from Debian's packages (test/support/runtime-images.ts),
 * read by skopeo, unpacked by umoci and run by runc as root; pushed to a
 * real registry with a Knative manifest; refused on a runtime with another
 * Python before anything is written.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { expectCleanFailure, expectOk, freePort, pypakr, usePrivateHome } from "../support/helpers.js";
import { appImage, flaskGunicornApp, type AppSpec } from "../support/serve-apps.js";
import { RUNTIME_PYTHON, runtimeImage, type RuntimeImage } from "../support/runtime-images.js";
import { requireRoot, runImage, waitForHttp } from "../support/runc.js";
import { startRegistry, type Registry } from "../support/registry.js";
import { downloadedWheels } from "../support/wheels.js";
import { indexEntry, ordinaryImage, writeOciArchive } from "../support/ordinary.js";
import type { TarEntry } from "../support/tar.js";

const notRoot = requireRoot("exporting onto a runtime built by mmdebstrap and running it with runc");

interface SkopeoConfig {
  architecture: string;
  os: string;
  config: { User: string; Env: string[]; Entrypoint: string[]; WorkingDir: string; ExposedPorts: Record<string, unknown>; Labels: Record<string, string> };
  rootfs: { diff_ids: string[] };
}

function skopeo(args: string[]): string {
  return execFileSync("skopeo", args, { encoding: "utf8", timeout: 60_000 });
}

/** The same Flask and gunicorn (so the same distribution layers), another app. */
function secondFlaskApp(findLinks: string): AppSpec {
  const first = flaskGunicornApp({ findLinks });
  return {
    name: "flask-second",
    async write(dir) {
      await first.write(dir);
      await fs.writeFile(path.join(dir, "app.py"), 'from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.route("/")\ndef second():\n    return "the second app\\n"\n');
    },
  };
}

describe("pypakr export", { skip: notRoot }, () => {
  let bookworm: RuntimeImage;
  let trixie: RuntimeImage;
  let flask: { image: string; tag: string };
  let second: { image: string; tag: string };
  const own = usePrivateHome({
    prefix: "pypakr-export-",
    setup: async () => {
      const wheels = await downloadedWheels(["flask", "gunicorn>=26"]);
      const maker = { dir: own.dir, pypakr: (args: string[]) => pypakr(args, { home: own.home }) };
      [bookworm, trixie, flask, second] = await Promise.all([runtimeImage("bookworm"), runtimeImage("trixie"), appImage(flaskGunicornApp({ findLinks: wheels }), maker), appImage(secondFlaskApp(wheels), maker)]);
    },
  });
  const run = (args: string[]) => pypakr(["export", ...args], { home: own.home });
  const runtime = (image: RuntimeImage) => `oci-archive:${image.archive}:${image.refName}`;

  const exported = { file: "", digest: "" };
  const exportArgs = (out: string) => [flask.tag, "--runtime", runtime(bookworm), "-o", out, "--source", "https://example.com/flask-app", "--json"];

  test("makes an ordinary image: skopeo reads it, its config runs the app as a non-root user on PORT, and runc runs it", async () => {
    const out = path.join(own.dir, "flask.oci.tar");
    const result = expectOk(await run(exportArgs(out)), "export");
    const answer = JSON.parse(result.stdout) as { digest: string; layers: { runtime: number; added: number }; runtime: { python: string; executable: string } };
    Object.assign(exported, { file: out, digest: answer.digest });
    // What the runtime's Python said of itself in the sandbox: Debian's python3, the machine's minor version.
    assert.match(answer.runtime.python, new RegExp(`^${RUNTIME_PYTHON.bookworm.replace(".", "\\.")}\\.\\d+$`));
    assert.equal(answer.runtime.executable, "/usr/bin/python3");
    const inspected = JSON.parse(skopeo(["inspect", `oci-archive:${out}`])) as { Digest: string; Layers: string[] };
    assert.equal(inspected.Digest, answer.digest);
    const config = JSON.parse(skopeo(["inspect", "--config", `oci-archive:${out}`])) as SkopeoConfig;
    assert.equal(config.architecture, "amd64");
    assert.equal(config.config.User, "65532:65532");
    assert.deepEqual(config.config.Entrypoint, ["/app/venv/run"]);
    assert.equal(config.config.WorkingDir, "/app/venv");
    assert.ok("8080/tcp" in config.config.ExposedPorts);
    for (const variable of ["PORT=8080", "VIRTUAL_ENV=/app/venv"]) assert.ok(config.config.Env.includes(variable), config.config.Env.join(" "));
    assert.ok(config.config.Env.some((variable) => variable.startsWith("PATH=/app/venv/bin:")));
    assert.equal(config.config.Labels["org.opencontainers.image.source"], "https://example.com/flask-app");
    assert.match(config.config.Labels["org.pypakr.image.digest"] ?? "", /^sha256:[0-9a-f]{64}$/);
    assert.ok(config.config.Labels["org.opencontainers.image.created"]);
    // Each pypakr layer stays one layer.
    const pypakrLayers = (JSON.parse(skopeo(["inspect", `oci-archive:${flask.image}`])) as { Layers: string[] }).Layers.length;
    // The runtime's one layer, the skeleton, then one per pypakr layer: each stays one layer.
    assert.equal(inspected.Layers.length, 1 + 1 + pypakrLayers);
    assert.equal(answer.layers.added, 1 + pypakrLayers);
    const listing = (layer: string) => execFileSync("sh", ["-c", `tar -xOf "$1" "blobs/sha256/$2" | tar -tz`, "sh", out, layer.replace("sha256:", "")], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    const flaskLayer = inspected.Layers.map(listing).find((names) => /^app\/venv\/lib\/python3\.11\/site-packages\/flask\/app\.py$/m.test(names)) ?? "";
    assert.match(flaskLayer, /^app\/venv\/lib\/python3\.11\/site-packages\/flask\/__pycache__\/app\.cpython-311\.pyc$/m, "Flask's layer holds its modules' bytecode");

    const port = await freePort();
    const container = await runImage(out, "latest", { name: "export-flask", port });
    try {
      const reply = await waitForHttp(`http://127.0.0.1:${port}/`, 30_000, () => container.logs());
      assert.equal(reply.status, 200, container.logs());
      assert.equal(reply.body.toString(), "Hello, World!\n");
      const status = await fs.readFile(`/proc/${container.pid}/status`, "utf8");
      assert.match(status, /^Uid:\s+65532\s/m, "the app runs as the image's non-root user");
    } finally {
      await container.stop();
    }
  });

  test("exporting twice gives the same digest; two apps share their distributions' exported layers", async () => {
    // Made afresh, not taken from the cache of exported layers (their bytecode is compiled again too).
    await fs.rm(path.join(own.home, "runtimes", "layers"), { recursive: true, force: true });
    const again = expectOk(await run(exportArgs(path.join(own.dir, "again.tar"))), "export again");
    assert.equal((JSON.parse(again.stdout) as { digest: string }).digest, exported.digest);
    expectOk(await run([second.tag, "--runtime", runtime(bookworm), "-o", path.join(own.dir, "second.tar")]), "export of the second app");
    const layersOf = (file: string) => (JSON.parse(skopeo(["inspect", `oci-archive:${file}`])) as { Layers: string[] }).Layers;
    const [first, other] = [layersOf(exported.file), layersOf(path.join(own.dir, "second.tar"))];
    const shared = first.filter((layer) => other.includes(layer));
    // All but the app-files layer: the runtime, the skeleton, and every distribution (flask, gunicorn and theirs), bytecode included.
    assert.equal(shared.length, first.length - 1, `shared ${shared.length} of ${first.length}`);
  });

  test("--format docker-archive writes what docker load reads (skopeo reads it as docker-archive)", async () => {
    const out = path.join(own.dir, "flask.docker.tar");
    expectOk(await run([flask.tag, "--runtime", runtime(bookworm), "-o", out, "--format", "docker-archive"]), "export");
    const oci = JSON.parse(skopeo(["inspect", "--config", `oci-archive:${exported.file}`])) as SkopeoConfig;
    const docker = JSON.parse(skopeo(["inspect", "--config", `docker-archive:${out}`])) as SkopeoConfig;
    assert.deepEqual(docker.rootfs.diff_ids, oci.rootfs.diff_ids);
    assert.deepEqual(docker.config.Entrypoint, oci.config.Entrypoint);
  });

  test("a runtime with another Python minor version is refused before anything is written, naming both", async () => {
    const out = path.join(own.dir, "mismatch.tar");
    const before = (await fs.readdir(os.tmpdir())).filter((name) => name.startsWith("pypakr-export-"));
    const result = await run([flask.tag, "--runtime", runtime(trixie), "-o", out]);
    expectCleanFailure(result, new RegExp(`has CPython ${RUNTIME_PYTHON.trixie.replace(".", "\\.")}\\.\\d+.*needs CPython ${RUNTIME_PYTHON.bookworm.replace(".", "\\.")}`));
    assert.match(result.stderr, /python:3\.11-slim/);
    await assert.rejects(fs.lstat(out), { code: "ENOENT" });
    assert.deepEqual((await fs.readdir(own.dir)).filter((name) => name.startsWith(".mismatch")), [], "no temp file beside the output");
    const left = (await fs.readdir(os.tmpdir())).filter((name) => name.startsWith("pypakr-export-") && !before.includes(name));
    assert.deepEqual(left, [], "no work dir left behind");
  });

  describe("a hostile or broken runtime", () => {
    /** A runtime archive of these layers (no Python unless they bring one). */
    async function craftedRuntime(name: string, layers: TarEntry[][], options: { diffIds?: string[]; platform?: { os: string; architecture: string } } = {}): Promise<string> {
      const dir = path.join(own.dir, `runtime-${name}`);
      await fs.mkdir(dir, { recursive: true });
      const image = await ordinaryImage(dir, { layerEntries: layers, ...options });
      return writeOciArchive(path.join(dir, "runtime.tar"), [indexEntry(image.manifestBytes, { refName: name })], image.contents);
    }

    async function refusedBeforeWriting(runtimeArchive: string, message: RegExp): Promise<void> {
      const out = path.join(own.dir, "hostile-out.tar");
      const result = await run([flask.tag, "--runtime", `oci-archive:${runtimeArchive}`, "-o", out]);
      expectCleanFailure(result, message);
      await assert.rejects(fs.lstat(out), { code: "ENOENT" });
    }

    test("one without a Python is refused, saying so", async () => {
      await refusedBeforeWriting(await craftedRuntime("nopython", [[{ name: "usr/bin/", type: "directory" }, { name: "usr/bin/tool", body: "x", mode: 0o755 }]]), /has no working python3 or python on its PATH/);
    });

    test("one whose layers write through a link to the host is refused, and the host is untouched", async () => {
      const host = path.join(own.dir, "host-dir");
      await fs.mkdir(host, { recursive: true });
      await fs.writeFile(path.join(host, "keep"), "precious");
      const archive = await craftedRuntime("through-link", [[{ name: "opt", type: "symlink", linkname: host }], [{ name: "opt/evil", body: "x" }, { name: "opt/.wh.keep", body: "" }]]);
      await refusedBeforeWriting(archive, /through the symlink "opt"/);
      assert.deepEqual(await fs.readdir(host), ["keep"]);
    });

    test("one whose config lies about its layers' content is refused", async () => {
      await refusedBeforeWriting(await craftedRuntime("lying", [[{ name: "etc/x", body: "x" }]], { diffIds: [`sha256:${"ab".repeat(32)}`] }), /unpacks to sha256:[0-9a-f]{64}, not the sha256:abab/);
    });

    test("one for another platform is refused", async () => {
      await refusedBeforeWriting(await craftedRuntime("arm", [[{ name: "etc/x", body: "x" }]], { platform: { os: "linux", architecture: "arm64" } }), /arm64/);
    });
  });

  describe("to a registry, with a Knative manifest", () => {
    let registry: Registry;
    before(async () => {
      registry = await startRegistry();
    });
    after(() => registry.stop());

    test("--push sends it, and --knative writes a Service for it by digest with the serve config's settings", async () => {
      const serveConfig = path.join(own.dir, "serve.toml");
      await fs.writeFile(serveConfig, `[apps.flask]\nimage = "${flask.tag}"\npath = "/"\nconcurrency = 4\nmin-instances = 1\nmax-instances = 3\nmemory = "256MiB"\n[apps.flask.env]\nGREETING = "yes"\n\n[apps.other]\nimage = "${second.tag}"\npath = "/other"\n`);
      const manifest = path.join(own.dir, "service.yaml");
      const target = `${registry.host}/apps/flask:1`;
      const result = expectOk(await run([flask.tag, "--runtime", runtime(bookworm), "--push", target, "--knative", manifest, "--serve-config", serveConfig, "--app", "flask", "--json"]), "export --push");
      const answer = JSON.parse(result.stdout) as { digest: string; pushed: { byDigest: string } };
      const remote = JSON.parse(skopeo(["inspect", "--tls-verify=false", `docker://${target}`])) as { Digest: string };
      assert.equal(remote.Digest, answer.digest);
      const service = parseYaml(await fs.readFile(manifest, "utf8")) as {
        kind: string;
        metadata: { name: string };
        spec: { template: { metadata: { annotations: Record<string, string> }; spec: { containerConcurrency: number; containers: { image: string; ports: { containerPort: number }[]; env?: { name: string; value: string }[] }[] } } };
      };
      assert.equal(service.kind, "Service");
      assert.equal(service.metadata.name, "flask");
      const { annotations } = service.spec.template.metadata;
      assert.equal(annotations["autoscaling.knative.dev/min-scale"], "1");
      assert.equal(annotations["autoscaling.knative.dev/max-scale"], "3");
      assert.equal(service.spec.template.spec.containerConcurrency, 4);
      const [container] = service.spec.template.spec.containers;
      assert.equal(container?.image, `${registry.host}/apps/flask@${answer.digest}`);
      assert.equal(container?.ports[0]?.containerPort, 8080);
      assert.deepEqual(container?.env, [{ name: "GREETING", value: "yes" }]);
      const { Service } = await import("@kubernetes-models/knative/serving.knative.dev/v1/Service");
      new Service(service as never).validate();
    });

    test("--knative without --push, or an unknown --app, fails before any work", async () => {
      expectCleanFailure(await run([flask.tag, "--runtime", runtime(bookworm), "-o", path.join(own.dir, "x.tar"), "--knative", path.join(own.dir, "k.yaml")]), /--knative needs --push/);
      const serveConfig = path.join(own.dir, "serve.toml");
      expectCleanFailure(await run([flask.tag, "--runtime", runtime(bookworm), "--push", `${registry.host}/apps/x:1`, "--knative", path.join(own.dir, "k.yaml"), "--serve-config", serveConfig, "--app", "nope"]), /no app named "nope"[\s\S]*flask, other/);
      await assert.rejects(fs.lstat(path.join(own.dir, "x.tar")), { code: "ENOENT" });
    });
  });
});
