/**
 * `pypakr export --knative`'s manifest: valid for Knative's Service schema (the generated validator of
 * @kubernetes-models/knative), with the values of the app's serve config, and hostile values kept as strings.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { Service } from "@kubernetes-models/knative/serving.knative.dev/v1/Service";
import { parse } from "yaml";
import { type KnativeAppSettings, knativeService, knativeServiceName } from "../../../src/export/knative.js";
import { loadAppSettings } from "../../../src/serve/index.js";
import { PypakrError } from "../../../src/util/errors.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";

const IMAGE = `registry.example.test:5000/team/api@sha256:${"ab".repeat(32)}`;

let dir = "";
let twoApps = "";

/** Values a user's file may hold that YAML or Kubernetes would read as something else if written carelessly. */
const HOSTILE = {
  YES: "yes",
  ON: "on",
  NULL: "null",
  TILDE: "~",
  ALIAS: "*a",
  ANCHOR: "&a",
  TEMPLATE: "{{ .Values.x }}",
  QUOTES: `say "hi" and 'bye'`,
  LINES: "one\ntwo\n",
  OCTAL: "0o17",
  SEXAGESIMAL: "12:30",
  COMMENT: "# not a comment",
  COLON: "key: value",
  SPACES: "  padded  ",
  EMPTY: "",
  DOLLARS: "$(HOME) costs $$5 and $",
};

before(async () => {
  dir = await makeTempDir("pypakr-unit-knative-");
  twoApps = path.join(dir, "serve.toml");
  const hostileEnv = Object.entries(HOSTILE).map(([name, value]) => `${name} = ${JSON.stringify(value)}`);
  await fs.writeFile(
    twoApps,
    [
      'request-timeout = "90500ms"',
      "[apps.api]",
      'image = "api:1"',
      'path = "/api"',
      "concurrency = 8",
      "min-instances = 1",
      "max-instances = 12",
      'idle-timeout = "2m"',
      'health-path = "/healthz/deep"',
      'memory = "1GiB"',
      "max-processes = 64",
      "[apps.api.env]",
      ...hostileEnv,
      "[apps.worker]",
      'image = "worker:1"',
      'host = "worker.example.test"',
      "concurrency = 3",
      'memory = "10MB"',
      "",
    ].join("\n"),
  );
});

after(async () => {
  await removeDir(dir);
});

/** The parts of a parsed manifest the tests look into (the validator has checked the types). */
interface Manifest {
  metadata: { name: string };
  spec: { template: { metadata: unknown; spec: { containerConcurrency: unknown; timeoutSeconds?: number; containers: Container[] } } };
}
interface Container {
  name?: string;
  env?: { name: string; value: unknown }[];
  resources?: { limits: { memory: string } };
  readinessProbe?: unknown;
}

/** The manifest's text parsed as kubectl's YAML 1.1 reader and as YAML 1.2 both see it (they must agree), then validated. */
function parseManifest(text: string): Manifest {
  const asYaml11: unknown = parse(text, { version: "1.1" });
  const asYaml12: unknown = parse(text);
  assert.deepEqual(asYaml11, asYaml12);
  new Service(asYaml12 as Service).validate();
  return asYaml12 as Manifest;
}

/** Kubernetes' expansion of an env value (kubernetes third_party/forked/golang/expansion): $(NAME) of an earlier variable, $$ to $. */
function kubernetesExpand(value: string, earlier: Record<string, string>): string {
  let out = "";
  let cursor = 0;
  while (cursor < value.length) {
    const next = value[cursor + 1];
    if (value[cursor] !== "$" || next === undefined) {
      out += value[cursor];
      cursor += 1;
    } else if (next === "$") {
      out += "$";
      cursor += 2;
    } else if (next === "(" && value.includes(")", cursor + 2)) {
      const close = value.indexOf(")", cursor + 2);
      const name = value.slice(cursor + 2, close);
      out += earlier[name] ?? `$(${name})`;
      cursor = close + 1;
    } else {
      out += `$${next}`;
      cursor += 2;
    }
  }
  return out;
}

const SETTINGS: KnativeAppSettings = { env: {}, concurrency: 80, minInstances: 0, maxInstances: 4, idleTimeoutMs: 60_000, requestTimeoutMs: 300_000, memoryBytes: 512 * 1024 ** 2 };

describe("knativeService", () => {
  test("without a serve config: the image by digest on port 8080 in a container named app, and Knative's own defaults written out", () => {
    const manifest = parseManifest(knativeService({ name: "api", image: IMAGE }));
    assert.deepEqual(manifest, {
      apiVersion: "serving.knative.dev/v1",
      kind: "Service",
      metadata: { name: "api" },
      spec: {
        template: {
          metadata: { annotations: { "autoscaling.knative.dev/min-scale": "0", "autoscaling.knative.dev/max-scale": "0" } },
          spec: { containerConcurrency: 0, containers: [{ name: "app", image: IMAGE, ports: [{ containerPort: 8080 }] }] },
        },
      },
    });
  });

  test("one app picked by name from a serve config with two: each setting that means the same on Knative", async () => {
    const api = parseManifest(knativeService({ name: "api", image: IMAGE, app: await loadAppSettings(twoApps, "api") }));
    const expectedEnv = Object.entries(HOSTILE).map(([name, value]) => ({ name, value: value.replaceAll("$", () => "$$") }));
    assert.deepEqual(api, {
      apiVersion: "serving.knative.dev/v1",
      kind: "Service",
      metadata: { name: "api" },
      spec: {
        template: {
          metadata: {
            annotations: { "autoscaling.knative.dev/min-scale": "1", "autoscaling.knative.dev/max-scale": "12", "autoscaling.knative.dev/scale-down-delay": "120s" },
          },
          spec: {
            containerConcurrency: 8,
            // 90.5 s rounded up: Knative takes whole seconds, and a shorter limit would cut requests serve lets finish.
            timeoutSeconds: 91,
            containers: [
              {
                name: "app",
                image: IMAGE,
                ports: [{ containerPort: 8080 }],
                env: expectedEnv,
                readinessProbe: { httpGet: { path: "/healthz/deep", port: 8080 } },
                resources: { limits: { memory: "1Gi" } },
              },
            ],
          },
        },
      },
    });

    // The other app, with serve's defaults where its table says nothing.
    const worker = parseManifest(knativeService({ name: "worker", image: IMAGE, app: await loadAppSettings(twoApps, "worker") }));
    const template = worker.spec.template;
    assert.deepEqual(template.metadata, {
      annotations: { "autoscaling.knative.dev/min-scale": "0", "autoscaling.knative.dev/max-scale": "4", "autoscaling.knative.dev/scale-down-delay": "60s" },
    });
    assert.equal(template.spec.containerConcurrency, 3);
    assert.equal(template.spec.timeoutSeconds, 91);
    assert.deepEqual(template.spec.containers[0]?.resources, { limits: { memory: "10M" } });
    assert.equal(template.spec.containers[0]?.env, undefined, "no env key for an app without env");
    assert.equal(template.spec.containers[0]?.readinessProbe, undefined, "Knative's own readiness check without a health-path");
  });

  test("hostile env values stay strings, and reach the app as written through Kubernetes' $(VAR) expansion", () => {
    const text = knativeService({ name: "api", image: IMAGE, app: { ...SETTINGS, env: HOSTILE } });
    const manifest = parseManifest(text);
    const env = manifest.spec.template.spec.containers[0]?.env ?? [];
    assert.deepEqual(env.map(({ name }) => name), Object.keys(HOSTILE));
    const earlier: Record<string, string> = { HOME: "/root" };
    for (const { name, value } of env) {
      assert.equal(typeof value, "string", `${name} is a string`);
      assert.equal(kubernetesExpand(value as string, earlier), HOSTILE[name as keyof typeof HOSTILE], `${name} reaches the app as written`);
    }
    // The expansion is real: the value as the config wrote it would not survive it.
    assert.notEqual(kubernetesExpand(HOSTILE.DOLLARS, earlier), HOSTILE.DOLLARS);
    // No anchor, alias, tag or template is left for a YAML or template reader to act on.
    assert.doesNotMatch(text, /^\s*[^"\s][^:]*: [*&!{]/m);
  });

  test("the validator refuses a broken manifest (so that passing it means something)", () => {
    const good = parseManifest(knativeService({ name: "api", image: IMAGE, app: SETTINGS }));
    const broken = (change: (manifest: Manifest, container: Container) => void) => {
      const manifest = structuredClone(good);
      const [container] = manifest.spec.template.spec.containers;
      assert.ok(container);
      change(manifest, container);
      return () => new Service(manifest as unknown as Service).validate();
    };
    assert.throws(broken((_, container) => delete container.name), /containers\/0 must have required property name/);
    assert.throws(broken((manifest) => (manifest.spec.template.spec.containerConcurrency = "80")), /containerConcurrency must be integer/);
    assert.throws(broken((_, container) => (container.resources = { limits: { memory: "lots" } })), /memory must match format "quantity"/);
  });

  test("memory in Kubernetes' units: the largest that divides the bytes, else bytes", () => {
    const memoryOf = (memoryBytes: number | undefined) => {
      const manifest = parseManifest(knativeService({ name: "api", image: IMAGE, app: { ...SETTINGS, memoryBytes } }));
      return manifest.spec.template.spec.containers[0]?.resources?.limits.memory;
    };
    assert.equal(memoryOf(512 * 1024 ** 2), "512Mi");
    assert.equal(memoryOf(3 * 1024 ** 3), "3Gi");
    assert.equal(memoryOf(1536 * 1024), "1536Ki");
    assert.equal(memoryOf(250 * 1000 ** 2), "250M");
    assert.equal(memoryOf(1_048_577), "1048577");
    assert.equal(memoryOf(undefined), undefined, 'memory = "none": no limit');
  });

  test("settings Knative would refuse are refused with the setting named", () => {
    for (const name of ["K_SERVICE", "K_CONFIGURATION", "K_REVISION", "PORT"]) {
      assert.throws(() => knativeService({ name: "api", image: IMAGE, app: { ...SETTINGS, env: { [name]: "x" } } }), (error: unknown) => {
        assert.ok(error instanceof PypakrError);
        assert.equal(error.code, "bad-env-var");
        assert.match(error.message, new RegExp(`^env ${name}: Knative sets ${name}`));
        assert.ok(error.hint?.includes("serve config"));
        return true;
      });
    }
    for (const [value, named] of [["a\u2028b", "U+2028"], ["a\x7fb", "U+007F"], ["a\u0085b", "U+0085"], ["a\ud800b", "U+D800"]] as const) {
      assert.throws(() => knativeService({ name: "api", image: IMAGE, app: { ...SETTINGS, env: { TEXT: value } } }), (error: unknown) => {
        assert.ok(error instanceof PypakrError);
        assert.equal(error.code, "bad-env-var");
        assert.ok(error.message.includes(`env TEXT: its value holds ${named}`), error.message);
        return true;
      });
    }
    assert.throws(() => knativeService({ name: "api", image: IMAGE, app: { ...SETTINGS, idleTimeoutMs: 3_600_001 } }), (error: unknown) => {
      assert.ok(error instanceof PypakrError);
      assert.equal(error.code, "bad-config");
      assert.match(error.message, /^idle-timeout 3600\.001s is longer than Knative's scale-down-delay may be \(at most 1h\)/);
      return true;
    });
    for (const healthPath of ["/healthz?deep=1", "/health%20z"]) {
      assert.throws(() => knativeService({ name: "api", image: IMAGE, app: { ...SETTINGS, healthPath } }), (error: unknown) => {
        assert.ok(error instanceof PypakrError);
        assert.equal(error.code, "bad-config");
        assert.ok(error.message.startsWith(`health-path ${JSON.stringify(healthPath)} holds`), error.message);
        return true;
      });
    }
    // An hour is allowed.
    parseManifest(knativeService({ name: "api", image: IMAGE, app: { ...SETTINGS, idleTimeoutMs: 3_600_000 } }));
  });

  test("the image must come by digest", () => {
    for (const image of ["registry.example.test/api:1", `api\x7f@sha256:${"ab".repeat(32)}`, `api@sha256:${"ab".repeat(31)}`, `api @sha256:${"ab".repeat(32)}`]) {
      assert.throws(() => knativeService({ name: "api", image }), /needs the image by digest/);
    }
  });
});

describe("knativeServiceName", () => {
  test("any name becomes a DNS-1035 label short enough for Knative's revision names", () => {
    const cases: [string, string][] = [
      ["api", "api"],
      ["Hello_World.v2", "hello-world-v2"],
      ["1valid", "app-1valid"],
      ["___", "app"],
      ["", "app"],
      ["é", "app"],
      ["a--b", "a-b"],
      ['x"; rm -rf /\n{{ y }}', "x-rm-rf-y"],
      [`${"a".repeat(48)}-b`, "a".repeat(48)],
      ["z".repeat(80), "z".repeat(49)],
    ];
    for (const [name, label] of cases) {
      assert.equal(knativeServiceName(name), label, `name ${JSON.stringify(name)}`);
      assert.match(label, /^[a-z]([-a-z0-9]*[a-z0-9])?$/);
      assert.ok(label.length <= 49);
    }
    assert.equal(parseManifest(knativeService({ name: "My_App", image: IMAGE })).metadata.name, "my-app");
  });
});

describe("loadAppSettings", () => {
  test("an unknown app is an error that names the file's apps", async () => {
    await assert.rejects(loadAppSettings(twoApps, "nope"), (error: unknown) => {
      assert.ok(error instanceof PypakrError);
      assert.equal(error.code, "usage");
      assert.equal(error.message, `${twoApps} has no app named "nope"`);
      assert.equal(error.hint, `The apps in ${twoApps}: api, worker.`);
      return true;
    });
  });

  test("without a name: the file's only app, or an error naming the apps when it has several", async () => {
    await assert.rejects(loadAppSettings(twoApps, undefined), (error: unknown) => {
      assert.ok(error instanceof PypakrError);
      assert.match(error.message, /has 2 apps: name the one to export with --app NAME/);
      assert.equal(error.hint, `The apps in ${twoApps}: api, worker.`);
      return true;
    });
    const oneApp = path.join(dir, "one.yaml");
    await fs.writeFile(oneApp, "request-timeout: 20s\napps:\n  solo:\n    image: solo:1\n    path: /\n");
    const solo = await loadAppSettings(oneApp, undefined);
    assert.equal(solo.name, "solo");
    assert.equal(solo.requestTimeoutMs, 20_000);
  });
});
