/**
 * Whether a runtime's Python can run a pypakr image: the same interpreter
 * kind (implementation, major.minor, ABI flags, OS and machine, as a base
 * must match), the same SOABI and libc family, and every distribution's
 * wheel loadable by it (a manylinux_2_28 wheel needs glibc 2.28 or newer),
 * judged by the runtime's own list of tags.
 */
import type { Image } from "../image/index.js";
import { describeKind, implementationName, interpreterKind, majorMinor, type PythonIdentity } from "../python/index.js";
import { PypakrError } from "../util/errors.js";
import type { RuntimePython } from "./runtime-python.js";

/** `CPython 3.13.5 on linux/x86_64 (cpython-313-x86_64-linux-gnu, glibc 2.41)`; without the patch version when `kindOnly`. */
function described(python: PythonIdentity, kindOnly: boolean): string {
  const details = [python.soabi, python.libc ? `${python.libc}${kindOnly ? "" : ` ${python.libcVersion}`}`.trim() : ""].filter(Boolean).join(", ");
  return `${kindOnly ? describeKind(python) : `${implementationName(python)} ${python.version}${python.abiFlags} on ${python.os}/${python.machine}`}${details ? ` (${details})` : ""}`;
}

/** Throws python-mismatch, naming both sides, unless `runtime` can run `image`. */
export function checkRuntimeMatches(image: Image, runtimeSource: string, runtime: RuntimePython): void {
  const wanted = image.config.pypakr.python;
  const hint = `Use a runtime with ${describeKind(wanted)}, e.g. python:${majorMinor(wanted.version)}-slim, or rebuild the image with the runtime's Python.`;
  const mismatch = (what: string) =>
    new PypakrError(`runtime ${runtimeSource} has ${described(runtime, false)}, but image ${image.source} needs ${described(wanted, true)}: ${what}`, { code: "python-mismatch", hint });
  if (interpreterKind(runtime) !== interpreterKind(wanted)) throw mismatch("another interpreter");
  if (runtime.soabi !== wanted.soabi) throw mismatch("another ABI");
  if (wanted.libc && runtime.libc !== wanted.libc) throw mismatch(`another C library (${runtime.libc || "none found"})`);
  if (runtime.tags === null) return;
  const supported = new Set(runtime.tags);
  for (const distribution of image.config.pypakr.distributions) {
    if (distribution.wheelTags.length === 0 || distribution.wheelTags.some((tag) => supported.has(tag))) continue;
    throw mismatch(`${distribution.name} ${distribution.version} was built for ${distribution.wheelTags.join(", ")}, which it cannot load`);
  }
}
