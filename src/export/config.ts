/**
 * The exported image's documents: an ordinary OCI config (what Docker,
 * podman, containerd and Knative read to run it) and manifest. Every value
 * is a function of the pypakr image, the runtime and the options, never of
 * the clock or the machine, so exporting twice gives the same digest.
 */
import * as path from "node:path";
import { type Image, MEDIA_TYPE_MANIFEST, ociLayerMediaType, type OrdinaryImage, type WrittenLayer } from "../image/index.js";
import { sha256Digest, type Digest } from "../util/hash.js";
import { runtimePath } from "./runtime-python.js";

/** The port the app is told to listen on ($PORT), as Cloud Run and Knative do. */
export const EXPORT_PORT = 8080;
/** distroless' `nonroot`: a numeric user needs no /etc/passwd entry in the runtime. */
export const EXPORT_USER = "65532:65532";
export const ANNOTATION_PYPAKR_IMAGE = "org.pypakr.image.digest";

export interface ExportedDocuments {
  configBytes: Buffer;
  manifestBytes: Buffer;
  manifestDigest: Digest;
  configDigest: Digest;
}

export interface ExportSettings {
  /** Where the venv lives inside the image, e.g. /app/venv. */
  venv: string;
  /** org.opencontainers.image.source, when known (a registry reference or a URL the user gave). */
  source?: string;
  /** The runtime's name as the user gave it, when it is a registry reference (base.name). */
  runtimeName?: string;
}

/**
 * The image's own entry point, made absolute: `./run` (the default) and
 * other relative words are the venv's files (a container runs in its
 * directory), a bare name is found on PATH, which starts with the venv's bin.
 */
export function exportedEntrypoint(entrypoint: readonly string[], venv: string): string[] {
  const words = entrypoint.length > 0 ? [...entrypoint] : ["./run"];
  const first = words[0] as string;
  if (first.startsWith("./") || (first.includes("/") && !path.posix.isAbsolute(first))) words[0] = path.posix.join(venv, first);
  return words;
}

/** The runtime's variables, then the venv's, then the image's own (which win, as in `pypakr run`). */
export function exportedEnvironment(image: Image, runtime: OrdinaryImage, venv: string): string[] {
  const variables = new Map<string, string>();
  for (const entry of runtime.config.config?.Env ?? []) {
    const equals = entry.indexOf("=");
    if (equals > 0) variables.set(entry.slice(0, equals), entry.slice(equals + 1));
  }
  // A venv's python finds its own prefix from pyvenv.cfg; a PYTHONHOME would send it elsewhere (pypakr run unsets it too).
  variables.delete("PYTHONHOME");
  variables.set("PATH", `${venv}/bin:${runtimePath(runtime)}`);
  variables.set("VIRTUAL_ENV", venv);
  variables.set("PORT", String(EXPORT_PORT));
  for (const [name, value] of Object.entries(image.config.pypakr.environment)) variables.set(name, value);
  return [...variables].map(([name, value]) => `${name}=${value}`);
}

/** The config and manifest, as the exact bytes their digests name. */
export function exportedDocuments(image: Image, runtime: OrdinaryImage, added: (WrittenLayer & { createdBy: string })[], settings: ExportSettings): ExportedDocuments {
  const created = image.config.pypakr.created;
  const annotations: Record<string, string> = {
    "org.opencontainers.image.created": created,
    "org.opencontainers.image.base.digest": runtime.manifestDigest,
    ...(settings.runtimeName ? { "org.opencontainers.image.base.name": settings.runtimeName } : {}),
    ...(settings.source ? { "org.opencontainers.image.source": settings.source } : {}),
    [ANNOTATION_PYPAKR_IMAGE]: image.manifestDigest,
  };
  const config = {
    created,
    architecture: runtime.config.architecture,
    os: runtime.config.os,
    ...(runtime.config.variant ? { variant: runtime.config.variant } : {}),
    config: {
      User: EXPORT_USER,
      Env: exportedEnvironment(image, runtime, settings.venv),
      Entrypoint: exportedEntrypoint(image.config.pypakr.entrypoint, settings.venv),
      WorkingDir: settings.venv,
      ExposedPorts: { [`${EXPORT_PORT}/tcp`]: {} },
      Labels: annotations,
    },
    rootfs: { type: "layers", diff_ids: [...runtime.config.rootfs.diff_ids, ...added.map((layer) => layer.diffId)] },
    history: [
      ...runtime.manifest.layers.map(() => ({ created, created_by: `runtime ${settings.runtimeName ?? runtime.manifestDigest}`, comment: "pypakr export: the runtime's layer, as it is" })),
      ...added.map((layer) => ({ created, created_by: layer.createdBy })),
    ],
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = sha256Digest(configBytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_MANIFEST,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: configBytes.length },
    layers: [
      ...runtime.manifest.layers.map((layer) => ({ mediaType: ociLayerMediaType(layer.mediaType), digest: layer.digest, size: layer.size })),
      ...added.map((layer) => ({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size })),
    ],
    annotations,
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { configBytes, manifestBytes, manifestDigest: sha256Digest(manifestBytes), configDigest };
}
