/**
 * The hub bench's corpus: N generated repositories × 3 tags of pypakr-shaped
 * images (test/support/hub-images.ts: real tar+zstd layers holding each
 * distribution's METADATA with its license and Requires-Python), drawn from
 * one pool of distributions so layers are shared between repositories as
 * real images share them. Each repository picks 10-30 distributions; its
 * later tags upgrade some, add or drop one, so tags differ as releases do.
 * Seeded: the same seed makes the same images.
 */
import { appLayer, inParallel, LayerPool, pypakrImage, RegistryPusher, type DistributionSpec, type MadeImage } from "../../test/support/hub-images.js";

/** mulberry32: a small seeded PRNG (Math.random cannot be seeded). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Well-known names with versions as PyPI has them, so "flask 3.1" or "urllib3<2" queries hit some images and miss others. */
const KNOWN: Record<string, string[]> = {
  Flask: ["2.2.5", "2.3.3", "3.0.3", "3.1.0", "3.1.1", "3.1.2"],
  Werkzeug: ["2.3.8", "3.0.6", "3.1.3"],
  Jinja2: ["3.1.4", "3.1.5", "3.1.6"],
  MarkupSafe: ["2.1.5", "3.0.2"],
  itsdangerous: ["2.1.2", "2.2.0"],
  click: ["8.1.7", "8.1.8", "8.2.1"],
  blinker: ["1.8.2", "1.9.0"],
  requests: ["2.31.0", "2.32.3", "2.32.4"],
  urllib3: ["1.26.18", "1.26.20", "2.0.7", "2.2.3", "2.3.0"],
  idna: ["3.7", "3.10"],
  certifi: ["2024.8.30", "2025.1.31", "2025.6.15"],
  "charset-normalizer": ["3.3.2", "3.4.1", "3.4.2"],
  numpy: ["1.26.4", "2.1.3", "2.2.6", "2.3.1"],
  pandas: ["2.1.4", "2.2.3", "2.3.0"],
  "python-dateutil": ["2.9.0.post0"],
  pytz: ["2024.2", "2025.2"],
  six: ["1.16.0", "1.17.0"],
  tzdata: ["2024.2", "2025.2"],
  gunicorn: ["22.0.0", "23.0.0"],
  packaging: ["24.1", "24.2", "25.0"],
  PyYAML: ["6.0.1", "6.0.2"],
  attrs: ["24.2.0", "25.3.0"],
  pydantic: ["1.10.19", "2.9.2", "2.10.6", "2.11.7"],
  "pydantic-core": ["2.23.4", "2.27.2", "2.33.2"],
  "typing-extensions": ["4.12.2", "4.13.2", "4.14.0"],
  SQLAlchemy: ["1.4.54", "2.0.36", "2.0.41"],
  greenlet: ["3.1.1", "3.2.3"],
  fastapi: ["0.110.3", "0.115.6", "0.115.14"],
  starlette: ["0.37.2", "0.41.3", "0.46.2"],
  anyio: ["4.6.2", "4.9.0"],
  sniffio: ["1.3.1"],
  h11: ["0.14.0", "0.16.0"],
  uvicorn: ["0.30.6", "0.32.1", "0.35.0"],
  httpx: ["0.27.2", "0.28.1"],
  httpcore: ["1.0.7", "1.0.9"],
  rich: ["13.9.4", "14.0.0"],
  Pygments: ["2.18.0", "2.19.2"],
  "markdown-it-py": ["3.0.0"],
  mdurl: ["0.1.2"],
  boto3: ["1.35.99", "1.38.46", "1.39.3"],
  botocore: ["1.35.99", "1.38.46", "1.39.3"],
  s3transfer: ["0.10.4", "0.13.0"],
  jmespath: ["1.0.1"],
  cryptography: ["42.0.8", "43.0.3", "45.0.4"],
  cffi: ["1.17.1"],
  pycparser: ["2.22"],
  redis: ["5.2.1", "6.2.0"],
  celery: ["5.4.0", "5.5.3"],
  kombu: ["5.4.2", "5.5.4"],
  protobuf: ["4.25.5", "5.29.3", "6.31.1"],
};

const LICENSES = ["MIT", "BSD-3-Clause", "Apache-2.0", "MIT OR Apache-2.0", "PSF-2.0", "MPL-2.0"];
const CLASSIFIERS: Record<string, string> = { MIT: "OSI Approved :: MIT License", "BSD-3-Clause": "OSI Approved :: BSD License", "Apache-2.0": "OSI Approved :: Apache Software License" };
const TEAMS = ["payments", "search", "ml", "data", "web", "platform", "infra", "billing", "identity", "growth", "ads", "mobile", "maps", "media", "ops", "security", "support", "tools", "edge", "labs"];
const WORDS = ["alpha", "bravo", "cedar", "delta", "ember", "fjord", "gala", "harbor", "iris", "juno", "koi", "lumen", "mesa", "nova", "onyx", "pulse", "quill", "raven", "sage", "tundra"];

export interface CorpusTag {
  repository: string;
  tag: string;
  image: MadeImage;
}

export interface Corpus {
  repositories: string[];
  /** Every tag, in push order (a repository's three tags one after another). */
  tags: CorpusTag[];
  /** Distinct distribution layers (name and version). */
  layers: number;
  /** Compressed bytes of every distinct blob (layers, configs, manifests). */
  bytes: number;
}

/** The pool: the well-known names and synthetic ones, each with its license style, Requires-Python and layer size. */
function distributionPool(next: () => number, synthetic: number): { name: string; versions: string[]; weight: number; spec: Omit<DistributionSpec, "name" | "version"> }[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const names = Object.entries(KNOWN).map(([name, versions]) => ({ name, versions, weight: 4 }));
  for (let index = 0; index < synthetic; index++) {
    const major = Math.floor(next() * 5);
    const versions = Array.from({ length: 2 + Math.floor(next() * 3) }, (_, n) => `${major + Math.floor(n / 2)}.${(n * 3 + Math.floor(next() * 3)) % 10}.${Math.floor(next() * 12)}`);
    names.push({ name: `${pick(WORDS)}-${pick(["client", "utils", "core", "sdk", "tools", "schema", "cache", "auth"])}-${index}`, versions, weight: 1 });
  }
  return names.map(({ name, versions, weight }) => {
    const license = pick(LICENSES);
    const style = next();
    const licenseFields: Partial<DistributionSpec> =
      style < 0.4 ? { licenseExpression: license } : style < 0.7 ? { license: `${license} License`, licenseClassifiers: CLASSIFIERS[license] ? [CLASSIFIERS[license]] : [] } : { licenseClassifiers: [CLASSIFIERS[license] ?? "OSI Approved :: MIT License"] };
    return {
      name,
      versions,
      weight,
      spec: { ...licenseFields, requiresPython: pick([">=3.8", ">=3.9", ">=3.10", undefined]), summary: `${name}: ${pick(["HTTP", "data", "a small", "fast", "typed"])} ${pick(["library", "toolkit", "client", "framework"])} for Python`, codeBytes: 400 + Math.floor(next() * 12_000) },
    };
  });
}

/** Generates the corpus in memory: `repositories` × 3 tags. */
export function makeCorpus(repositories: number, seed = 15): Corpus {
  const next = random(seed);
  const pool = distributionPool(next, 150);
  const weights = pool.reduce((sum, entry) => sum + entry.weight, 0);
  const weighted = () => {
    let left = next() * weights;
    for (const entry of pool) if ((left -= entry.weight) < 0) return entry;
    return pool[pool.length - 1] as (typeof pool)[number];
  };
  const layers = new LayerPool();
  const tags: CorpusTag[] = [];
  const names: string[] = [];
  const started = Date.parse("2026-11-01T00:00:00Z");
  for (let index = 0; index < repositories; index++) {
    const repository = `${TEAMS[index % TEAMS.length]}/${WORDS[Math.floor(next() * WORDS.length)]}-svc-${String(index).padStart(4, "0")}`;
    names.push(repository);
    const count = 10 + Math.floor(next() * 21);
    const chosen = new Map<string, { entry: (typeof pool)[number]; version: number }>();
    while (chosen.size < count) {
      const entry = weighted();
      // Older releases more often in the first tag, so later tags have something to upgrade to.
      if (!chosen.has(entry.name)) chosen.set(entry.name, { entry, version: Math.floor(next() * next() * entry.versions.length) });
    }
    for (const [tagIndex, tag] of ["1", "2", "3"].entries()) {
      if (tagIndex > 0) {
        for (const item of chosen.values()) if (next() < 0.3 && item.version < item.entry.versions.length - 1) item.version++;
        if (next() < 0.5) {
          const entry = weighted();
          if (!chosen.has(entry.name)) chosen.set(entry.name, { entry, version: entry.versions.length - 1 });
        }
        if (next() < 0.3 && chosen.size > 10) chosen.delete([...chosen.keys()][Math.floor(next() * chosen.size)] as string);
      }
      const distributions = [...chosen.values()].map(({ entry, version }) => layers.layer({ ...entry.spec, name: entry.name, version: entry.versions[version] as string }));
      const app = appLayer({ "app/__main__.py": `# ${repository}:${tag}\nprint("hello from ${repository} ${tag}")\n` });
      const created = new Date(started + (index * 3 + tagIndex) * 60_000).toISOString().replace(/\.\d+Z$/, "Z");
      tags.push({ repository, tag, image: pypakrImage(distributions, app, { created, environment: { APP_NAME: repository } }) });
    }
  }
  const blobs = new Map<string, number>();
  for (const { image } of tags) for (const blob of [image.manifest, image.config, ...image.layers]) blobs.set(blob.digest, blob.bytes.length);
  return { repositories: names, tags, layers: layers.size, bytes: [...blobs.values()].reduce((sum, size) => sum + size, 0) };
}

/**
 * Pushes the corpus over HTTP, `concurrency` repositories at a time (each
 * repository's tags in order, so tag 3 is the newest push). Returns the
 * requests it sent.
 */
export async function pushCorpus(corpus: Corpus, registryUrl: string, concurrency: number, progress?: (done: number) => void): Promise<RegistryPusher["requests"]> {
  const pusher = new RegistryPusher(registryUrl);
  const byRepository = new Map<string, CorpusTag[]>();
  for (const tag of corpus.tags) byRepository.set(tag.repository, [...(byRepository.get(tag.repository) ?? []), tag]);
  let done = 0;
  await inParallel([...byRepository.values()], concurrency, async (tags) => {
    for (const { repository, tag, image } of tags) await pusher.push(repository, tag, image);
    if (++done % 100 === 0) progress?.(done);
  });
  return pusher.requests;
}
