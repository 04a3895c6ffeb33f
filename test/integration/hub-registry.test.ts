/**
 * The hub's test registry (test/support/hub-registry.ts) and the generated
 * pypakr-shaped images (test/support/hub-images.ts) the hub's tests and bench
 * push to it: a push reaches a node:http listener as one manifest push event
 * with the events token, blob events and pulls do not; a delete by digest
 * comes as events too; with Basic auth the event names who pushed; and the
 * pushed layer really holds the distribution's METADATA.
 *
 * Needs Debian's docker-registry (and htpasswd for the Basic case).
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { imageConfigSchema } from "../../src/image/format.js";
import { appLayer, LayerPool, pypakrImage, RegistryPusher } from "../support/hub-images.js";
import { startHubRegistry, type HubRegistry } from "../support/hub-registry.js";
import { uncompressedLayer } from "../support/tar.js";

interface Received {
  authorization: string | undefined;
  contentType: string | undefined;
  events: RegistryEvent[];
}

interface RegistryEvent {
  action: string;
  target: { repository?: string; tag?: string; digest?: string; mediaType?: string; references?: { digest: string; mediaType: string }[] };
  actor?: { name?: string };
}

/** A stand-in for the hub's /events: keeps every POST, answers 202 at once. */
class EventListener {
  readonly received: Received[] = [];
  private readonly server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { events: RegistryEvent[] };
        this.received.push({ authorization: request.headers.authorization, contentType: request.headers["content-type"], events: body.events });
      } catch {
        // A body that is not JSON is a failure the assertions show (no event arrives).
      }
      response.writeHead(202).end();
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/events`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  get events(): RegistryEvent[] {
    return this.received.flatMap((received) => received.events);
  }

  /** Resolves with the first event `match` accepts; fails after `timeoutMs`, listing what came. */
  async waitFor(match: (event: RegistryEvent) => boolean, timeoutMs = 10_000): Promise<RegistryEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no such event within ${timeoutMs} ms; received: ${JSON.stringify(this.events)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

const pool = new LayerPool();
const flask = pool.layer({ name: "Flask", version: "3.1.0", licenseExpression: "BSD-3-Clause", requiresPython: ">=3.9", summary: "A simple framework for building complex web applications." });
const urllib3 = pool.layer({ name: "urllib3", version: "1.26.20", license: "MIT", licenseClassifiers: ["OSI Approved :: MIT License"] });
const image = pypakrImage([urllib3, flask], appLayer({ "app/main.py": "print('hello')\n" }));

const OCI_ACCEPT = "application/vnd.oci.image.manifest.v1+json";

describe("the hub's test registry", () => {
  const listener = new EventListener();
  let registry: HubRegistry;

  before(async () => {
    const eventsUrl = await listener.start();
    registry = await startHubRegistry({ eventsUrl, eventsToken: "events-secret-1" });
  });
  after(async () => {
    await registry?.stop();
    await listener.stop();
  });

  test("a generated image is a valid pypakr image whose distribution layers hold their METADATA", () => {
    const config = imageConfigSchema.parse(JSON.parse(image.config.bytes.toString("utf8")));
    assert.deepEqual(config.pypakr.distributions.map((d) => `${d.name}==${d.version}`), ["Flask==3.1.0", "urllib3==1.26.20"]);
    const tar = uncompressedLayer(flask.bytes).toString("latin1");
    assert.match(tar, /lib\/python3\.11\/site-packages\/Flask-3\.1\.0\.dist-info\/METADATA/);
    assert.match(tar, /License-Expression: BSD-3-Clause\n/);
    assert.match(tar, /Requires-Python: >=3\.9\n/);
    assert.equal(pool.layer({ name: "Flask", version: "3.1.0" }), flask, "the pool makes each name and version once");
  });

  test("a push reaches the listener as one manifest event with the token and the references; a pull and blob uploads send none; a delete sends the manifest's and each tag's", async () => {
    const pusher = new RegistryPusher(registry.url);
    await pusher.push("team/web", "1", image);
    const pushed = await listener.waitFor((event) => event.action === "push" && event.target.tag === "1");
    assert.equal(pushed.target.repository, "team/web");
    assert.equal(pushed.target.digest, image.manifest.digest);
    assert.equal(pushed.target.mediaType, OCI_ACCEPT);
    assert.deepEqual(pushed.target.references?.map((reference) => reference.digest), [image.config.digest, ...image.layers.map((layer) => layer.digest)]);
    assert.ok(listener.received.every((received) => received.authorization === "Bearer events-secret-1"), "every POST carries the events token");
    assert.match(listener.received[0]?.contentType ?? "", /^application\/vnd\.docker\.distribution\.events\.v1\+json/);

    // A second repository gets the same blobs by mount: no upload.
    const uploadsBefore = pusher.requests.upload;
    await pusher.push("team/api", "1", image);
    assert.equal(pusher.requests.upload, uploadsBefore, "blobs another repository holds are mounted");

    const pull = await fetch(`${registry.url}/v2/team/web/manifests/1`, { headers: { accept: OCI_ACCEPT } });
    assert.equal(pull.status, 200);
    await pull.body?.cancel();
    const deleted = await fetch(`${registry.url}/v2/team/web/manifests/${image.manifest.digest}`, { method: "DELETE" });
    assert.equal(deleted.status, 202);
    await deleted.body?.cancel();
    // Events come in order through the endpoint's one queue: once the delete's tag event is in, a pull event would be too.
    await listener.waitFor((event) => event.action === "delete" && event.target.repository === "team/web" && event.target.tag === "1");
    await listener.waitFor((event) => event.action === "delete" && event.target.digest === image.manifest.digest);
    assert.deepEqual(listener.events.filter((event) => event.action === "pull"), [], "pulls are not notified");
    assert.deepEqual(listener.events.filter((event) => event.target.mediaType === "application/octet-stream"), [], "blob events are not notified");
  });
});

describe("the hub's test registry with Basic auth", () => {
  const listener = new EventListener();
  let registry: HubRegistry;

  before(async () => {
    const eventsUrl = await listener.start();
    registry = await startHubRegistry({ eventsUrl, eventsToken: "events-secret-2", users: { alice: "wonder-Land-7" } });
  });
  after(async () => {
    await registry?.stop();
    await listener.stop();
  });

  test("without credentials the registry says 401; with them a push is notified with the pusher's name", async () => {
    const anonymous = await fetch(`${registry.url}/v2/`);
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
    await assert.rejects(new RegistryPusher(registry.url).push("team/web", "1", image), /401/);
    assert.ok(registry.authorization);
    await new RegistryPusher(registry.url, { authorization: registry.authorization }).push("team/web", "2", image);
    const pushed = await listener.waitFor((event) => event.action === "push" && event.target.tag === "2");
    assert.equal(pushed.actor?.name, "alice");
  });
});
