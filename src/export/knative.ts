/**
 * `pypakr export --knative FILE`: a Knative Service (serving.knative.dev/v1)
 * that runs the exported image, carrying over the settings of the app's
 * `pypakr serve` config that mean the same on Knative (docs/EXPORT.md,
 * "Knative", has the table for users):
 *
 *   serve                      Knative
 *   concurrency                spec.template.spec.containerConcurrency (a hard limit on both)
 *   min-instances              autoscaling.knative.dev/min-scale
 *   max-instances              autoscaling.knative.dev/max-scale
 *   idle-timeout               autoscaling.knative.dev/scale-down-delay (whole seconds, at most 1h)
 *   request-timeout (gateway)  spec.template.spec.timeoutSeconds (whole seconds)
 *   env                        containers[0].env, each `$` doubled (Kubernetes expands $(VAR) and $$)
 *   health-path                containers[0].readinessProbe.httpGet (a plain path: no query, no %-escapes)
 *   memory                     containers[0].resources.limits.memory
 *
 * Left out, because Knative has no setting of the same meaning: queue-limit
 * (the queue-proxy's queue is Knative's own), start-timeout and stop-grace
 * (Knative derives the termination grace from timeoutSeconds), max-processes
 * (Kubernetes limits pids per node, not per container), network (egress is a
 * NetworkPolicy, another object), path, host and strip-prefix (a Service gets
 * a host of its own and sees every path), and the gateway's listen, max-body,
 * header-timeout and drain-timeout. Nor is a target set: serve starts an
 * instance when every one is full, Knative scales earlier by default (70 % of
 * containerConcurrency), which is its choice to keep.
 */
import { Document } from "yaml";
import { PypakrError } from "../util/errors.js";

/** What the manifest takes from one app of a serve config (serve's ServedAppSettings has all of it). */
export interface KnativeAppSettings {
  env: Record<string, string>;
  concurrency: number;
  minInstances: number;
  maxInstances: number;
  idleTimeoutMs: number;
  requestTimeoutMs: number;
  healthPath?: string | undefined;
  memoryBytes?: number | undefined;
}

export interface KnativeServiceInput {
  /** The app's name, made a DNS-1035 label by knativeServiceName. */
  name: string;
  /** The exported image by digest: REPOSITORY@sha256:HEX. */
  image: string;
  /** The app's serve settings; without them, Knative's own defaults. */
  app?: KnativeAppSettings | undefined;
}

/** The port the exported image's app listens on ($PORT): Knative sets PORT to the containerPort itself. */
export const KNATIVE_PORT = 8080;

/**
 * A Service's name is a DNS-1035 label, and Knative names the revision's
 * Kubernetes Service NAME-00001-private, which must fit in 63 characters too
 * (knative/serving#3236): 63 - 14 = 49.
 */
const MAX_SERVICE_NAME = 49;
/** The names Knative sets in every container and refuses from a user. */
const RESERVED_ENV = new Set(["PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"]);
/** Knative refuses a scale-down-delay above an hour. */
const MAX_SCALE_DOWN_DELAY_MS = 3_600_000;
/**
 * Characters the YAML library writes as they are inside double quotes but a
 * Kubernetes manifest cannot carry so: DEL and C1 controls, U+FFFE/U+FFFF
 * and lone UTF-16 surrogates (not printable: kubectl's YAML reader refuses
 * the file) and NEL, U+2028, U+2029 (line breaks in YAML 1.1, folded into a
 * space). With the u flag, [\ud800-\udfff] matches only a surrogate without its pair.
 */
const UNCARRIED = /[\x7f-\x9f\u2028\u2029\ufffe\uffff\ud800-\udfff]/u;
const IMAGE_BY_DIGEST = /^[^\s@\p{Cc}]+@sha256:[0-9a-f]{64}$/u;
const KUBERNETES_SIZES: [string, number][] = [
  ["Ti", 1024 ** 4],
  ["Gi", 1024 ** 3],
  ["Mi", 1024 ** 2],
  ["Ki", 1024],
  ["T", 1000 ** 4],
  ["G", 1000 ** 3],
  ["M", 1000 ** 2],
  ["k", 1000],
];

/**
 * The Service's name for an app's name (serve's app names allow "_", "." and a
 * leading digit; image names allow more): lowercased, every run of other
 * characters a "-", "app-" before a name that does not start with a letter,
 * at most 49 characters. Normalized rather than refused, so a serve config's
 * app exports under its own name.
 */
export function knativeServiceName(name: string): string {
  let label = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  if (!/^[a-z]/.test(label)) label = label === "" ? "app" : `app-${label}`;
  return label.slice(0, MAX_SERVICE_NAME).replace(/-+$/, "");
}

/** The manifest's YAML text. Throws a PypakrError for a serve setting Knative would refuse. */
export function knativeService(input: KnativeServiceInput): string {
  if (!IMAGE_BY_DIGEST.test(input.image)) throw new Error(`the Knative manifest needs the image by digest (REPOSITORY@sha256:HEX), not ${JSON.stringify(input.image)}`);
  const { app } = input;
  const container: Record<string, unknown> = { name: "app", image: input.image, ports: [{ containerPort: KNATIVE_PORT }] };
  if (app && Object.keys(app.env).length > 0) container.env = envList(app.env);
  if (app?.healthPath !== undefined) container.readinessProbe = readinessProbe(app.healthPath);
  if (app?.memoryBytes !== undefined) container.resources = { limits: { memory: kubernetesSize(app.memoryBytes) } };
  const revisionSpec: Record<string, unknown> = { containerConcurrency: app?.concurrency ?? 0 };
  if (app) revisionSpec.timeoutSeconds = Math.ceil(app.requestTimeoutMs / 1000);
  revisionSpec.containers = [container];
  const manifest = {
    apiVersion: "serving.knative.dev/v1",
    kind: "Service",
    metadata: { name: knativeServiceName(input.name) },
    spec: { template: { metadata: { annotations: autoscaling(app) }, spec: revisionSpec } },
  };
  const document = new Document(manifest);
  document.commentBefore = " A Knative Service made by pypakr export; docs/EXPORT.md (\"Knative\") says where each value comes from.";
  // kubectl reads YAML 1.1, where yes, on, 0o17 or 12:30 are not strings: every string is written double-quoted,
  // a string in every YAML version; newlines stay escapes (no folding) and lines are never wrapped.
  return document.toString({ defaultStringType: "QUOTE_DOUBLE", defaultKeyType: "PLAIN", lineWidth: 0, doubleQuotedMinMultiLineLength: Number.POSITIVE_INFINITY });
}

/** The autoscaling annotations: serve's settings, or Knative's defaults written out (0 = scale to zero, 0 = no upper bound). */
function autoscaling(app: KnativeAppSettings | undefined): Record<string, string> {
  if (!app) return { "autoscaling.knative.dev/min-scale": "0", "autoscaling.knative.dev/max-scale": "0" };
  if (app.idleTimeoutMs > MAX_SCALE_DOWN_DELAY_MS) {
    throw new PypakrError(`idle-timeout ${app.idleTimeoutMs / 1000}s is longer than Knative's scale-down-delay may be (at most 1h)`, {
      code: "bad-config",
      hint: "Lower the app's idle-timeout to 1h or less in the serve config, or keep instances running with min-instances.",
    });
  }
  return {
    "autoscaling.knative.dev/min-scale": String(app.minInstances),
    "autoscaling.knative.dev/max-scale": String(app.maxInstances),
    "autoscaling.knative.dev/scale-down-delay": `${Math.ceil(app.idleTimeoutMs / 1000)}s`,
  };
}

/**
 * serve's health-path as Knative's readiness probe. Knative's queue-proxy
 * sends the probe's path as a URL's path (Go's url.URL{Path}), escaping "?"
 * and "%": a query or a %-escape would reach the app as another path.
 */
function readinessProbe(healthPath: string): { httpGet: { path: string; port: number } } {
  const unsendable = /[?%]/.exec(healthPath)?.[0];
  if (unsendable !== undefined) {
    throw new PypakrError(`health-path ${JSON.stringify(healthPath)} holds "${unsendable}", which Knative's readiness probe sends escaped, as another path`, {
      code: "bad-config",
      hint: "Give the app a health-path without a query or %-escapes in the serve config, or leave it out for Knative's own readiness check.",
    });
  }
  return { httpGet: { path: healthPath, port: KNATIVE_PORT } };
}

/**
 * The env as Kubernetes' list, in the config's order. Kubernetes expands
 * $(NAME) in a value and turns $$ into $, so every $ is doubled to reach the
 * app as the config wrote it.
 */
function envList(env: Record<string, string>): { name: string; value: string }[] {
  return Object.entries(env).map(([name, value]) => {
    if (RESERVED_ENV.has(name)) {
      throw new PypakrError(`env ${name}: Knative sets ${name} in every container and refuses a Service that sets it`, {
        code: "bad-env-var",
        hint: `Leave ${name} out of the app's env in the serve config (Knative sets ${[...RESERVED_ENV].join(", ")}).`,
      });
    }
    const uncarried = UNCARRIED.exec(value)?.[0];
    if (uncarried !== undefined) {
      const codePoint = `U+${(uncarried.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
      throw new PypakrError(`env ${name}: its value holds ${codePoint}, which a Kubernetes manifest cannot carry as it is`, {
        code: "bad-env-var",
        hint: `Remove that character from ${name}'s value in the serve config.`,
      });
    }
    return { name, value: value.replaceAll("$", () => "$$") };
  });
}

/** Bytes as a Kubernetes quantity: the largest unit that divides them (512Mi, 10M), else plain bytes. */
function kubernetesSize(bytes: number): string {
  const unit = KUBERNETES_SIZES.find(([, size]) => bytes % size === 0);
  return unit ? `${bytes / unit[1]}${unit[0]}` : String(bytes);
}
