/**
 * A PEP 751 lock file (`pylock.toml`) of an image's distributions. PEP 751
 * requires each wheel or sdist entry to name its file by URL or path and to
 * carry its hash; an image knows those only for distributions whose origin
 * it recorded at build (pip's install report). So:
 * - origin with an https URL: the file by `url`, with its sha256;
 * - origin without one (pip installed a local file): the file by `path`,
 *   its bare name, which the spec reads relative to the lock file's
 *   directory: put the file beside the lock to install from it;
 * - no origin (images built before origins were recorded, what a setup
 *   script installed), or one whose file name does not match the
 *   distribution: no valid package entry exists, so the distribution is
 *   listed under `[tool.pypakr] unlocked` instead, and the file stays valid.
 */
import { stringify } from "smol-toml";
import { isPep440Version, normalizeName } from "./names.js";
import type { SbomComponent, SbomInput } from "./types.js";

/** Python's platform.machine() for an OCI architecture, for the lock's environment marker (none for one not listed). */
const MACHINES: Record<string, string> = { amd64: "x86_64", arm64: "aarch64", "386": "i686", arm: "armv7l", ppc64le: "ppc64le", s390x: "s390x", riscv64: "riscv64" };

function canonicalVersion(version: string): string {
  return version.toLowerCase().replace(/^v/, "");
}

/** Whether a wheel's or sdist's file name names this distribution and version, as a lock reader checks. */
function fileMatches(filename: string, name: string, version: string): "wheel" | "sdist" | null {
  if (filename.endsWith(".whl")) {
    const parts = filename.slice(0, -".whl".length).split("-");
    if (parts.length !== 5 && parts.length !== 6) return null;
    return normalizeName(parts[0] ?? "") === normalizeName(name) && canonicalVersion(parts[1] ?? "") === canonicalVersion(version) ? "wheel" : null;
  }
  const stem = /^(.+)\.(?:tar\.gz|zip)$/.exec(filename)?.[1];
  const dash = stem?.lastIndexOf("-") ?? -1;
  if (!stem || dash <= 0) return null;
  return normalizeName(stem.slice(0, dash)) === normalizeName(name) && canonicalVersion(stem.slice(dash + 1)) === canonicalVersion(version) ? "sdist" : null;
}

function packageEntry(component: SbomComponent): Record<string, unknown> | null {
  const { origin } = component;
  if (!origin || !isPep440Version(component.version)) return null;
  const kind = fileMatches(origin.filename, component.name, component.version);
  if (!kind) return null;
  const file = { name: origin.filename, ...(origin.url ? { url: origin.url } : { path: origin.filename }), hashes: { sha256: origin.sha256 } };
  const fromPypi = origin.url?.startsWith("https://files.pythonhosted.org/") === true;
  return {
    name: normalizeName(component.name),
    version: component.version,
    ...(fromPypi ? { index: "https://pypi.org/simple" } : {}),
    ...(kind === "wheel" ? { wheels: [file] } : { sdist: file }),
    tool: { pypakr: { layer: component.layerDigest, ...(component.wheelTags.length > 0 ? { "wheel-tags": component.wheelTags } : {}) } },
  };
}

function environmentMarker(input: SbomInput): string[] {
  const machine = MACHINES[input.architecture];
  // The values are held to [a-z0-9_] by the image format, so they cannot end the quoted marker strings.
  if (!machine || !/^[a-z0-9_]+$/.test(input.os) || !/^[a-z0-9_]+$/.test(input.python.implementation)) return [];
  return [`implementation_name == '${input.python.implementation}' and sys_platform == '${input.os}' and platform_machine == '${machine}'`];
}

/** The lock file's text. */
export function pylockDocument(input: SbomInput): string {
  const components = [...input.components].sort((a, b) => compare(normalizeName(a.name), normalizeName(b.name)) || compare(a.version, b.version) || compare(a.layerDigest, b.layerDigest));
  const packages: Record<string, unknown>[] = [];
  const unlocked: Record<string, unknown>[] = [];
  for (const component of components) {
    const entry = packageEntry(component);
    if (entry) packages.push(entry);
    else unlocked.push({ name: normalizeName(component.name), version: component.version, layer: component.layerDigest, reason: component.origin ? "its recorded file does not name this distribution and version" : "the image does not record which file it was installed from" });
  }
  const [major, minor] = input.python.version.split(".");
  const environments = environmentMarker(input);
  const document = {
    "lock-version": "1.0",
    ...(environments.length > 0 ? { environments } : {}),
    "requires-python": `==${major}.${minor}.*`,
    "created-by": "pypakr",
    packages,
    tool: {
      pypakr: {
        "manifest-digest": input.manifestDigest,
        ...(input.reference ? { reference: input.reference } : {}),
        created: input.created,
        ...(unlocked.length > 0 ? { unlocked } : {}),
      },
    },
  };
  const header = [
    // Only a digest goes into a comment: anything else could end the comment's line.
    /^sha256:[0-9a-f]{64}$/.test(input.manifestDigest) ? `# pylock.toml (PEP 751) of the pypakr image ${input.manifestDigest}.` : "# pylock.toml (PEP 751) of a pypakr image.",
    ...(unlocked.length > 0 ? [`# ${unlocked.length} distribution${unlocked.length === 1 ? " is" : "s are"} not locked (no recorded file and hash): see [tool.pypakr] unlocked.`] : []),
  ];
  return `${header.join("\n")}\n${stringify(document)}\n`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
