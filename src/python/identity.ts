/**
 * What an interpreter is, as pypakr records it (in a base's record, an
 * image's config and a container's record) and compares it: its identity
 * fields, their schema, and the interpreter kind that names a base. Owned
 * here, by python/, and read by image/ for its config's schema.
 */
import * as z from "zod";
import { PypakrError } from "../util/errors.js";

/**
 * An interpreter kind (e.g. `cpython-3.11-linux-x86_64`) names a directory
 * under the bases dir, so it may hold nothing that reads as a path.
 */
export const INTERPRETER_KIND = /^[a-z0-9][a-z0-9._-]{0,127}$/;

/**
 * The interpreter an image was built with; a container needs a base that
 * matches. Each field is held to the grammar of what Python itself reports
 * (sys.implementation.name, platform.python_version(), sys.abiflags, SOABI,
 * sys.platform, platform.machine(), platform.libc_ver()), because these
 * values become part of a base's directory name (interpreterKind) and of
 * messages: nothing else may get that far.
 */
export const pythonSchema = z.object({
  implementation: z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, "must be a Python implementation name such as cpython"),
  version: z.string().regex(/^\d{1,3}\.\d{1,3}\.\d{1,3}[a-z0-9+]{0,16}$/, "must look like 3.11.7"),
  abiFlags: z.string().regex(/^[a-z]{0,8}$/, "must be ABI flags such as t or d"),
  soabi: z.string().regex(/^[A-Za-z0-9_.-]{0,64}$/, "must be a SOABI tag such as cpython-311-x86_64-linux-gnu"),
  os: z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, "must be a sys.platform value such as linux"),
  machine: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/, "must be a machine name such as x86_64"),
  libc: z.string().regex(/^[A-Za-z0-9_.-]{0,32}$/, "must be a libc name such as glibc"),
  libcVersion: z.string().regex(/^[0-9.]{0,16}$/, "must be a libc version such as 2.36"),
});
export type PythonIdentity = z.infer<typeof pythonSchema>;

export function majorMinor(version: string): string {
  return version.split(".").slice(0, 2).join(".");
}

/**
 * The interpreter kind a base serves, e.g. `cpython-3.11-linux-x86_64`: what
 * must match between an image and a base (ABI flags such as the free-threaded
 * `t` included, since their extension modules differ).
 */
export function interpreterKind(python: PythonIdentity): string {
  const kind = `${python.implementation}-${majorMinor(python.version)}${python.abiFlags}-${python.os}-${python.machine}`.toLowerCase();
  // The kind names a directory under the bases dir: whatever the fields held, it must be one plain name.
  if (!INTERPRETER_KIND.test(kind)) {
    throw new PypakrError(`the interpreter kind ${JSON.stringify(kind)} is not a plain name ([a-z0-9._-])`, { code: "image-invalid", hint: "The image was crafted or damaged, or the interpreter reports a strange platform; use an image built by pypakr on a standard Python." });
  }
  return kind;
}

export function implementationName(python: PythonIdentity): string {
  return python.implementation === "cpython" ? "CPython" : python.implementation;
}

export function describeInterpreter(python: PythonIdentity): string {
  return `${implementationName(python)} ${python.version}${python.abiFlags} (${python.os}/${python.machine})`;
}

/** What decides whether a base serves an image, without the patch version: `CPython 3.11 on linux/x86_64`. */
export function describeKind(python: PythonIdentity): string {
  return `${implementationName(python)} ${majorMinor(python.version)}${python.abiFlags} on ${python.os}/${python.machine}`;
}
