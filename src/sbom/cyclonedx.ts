/**
 * A CycloneDX 1.6 JSON SBOM of an image: the image as the described
 * component, each distribution as a library with its purl, license, and the
 * wheel's SHA-256 when the image recorded where it came from. Everything in
 * it is a function of the input (serial number from the manifest digest,
 * timestamp = the image's `created`), so one image always gives the same bytes.
 */
import { cycloneDxLicenses } from "./licenses.js";
import { normalizeName, ociPurl, parseImageName, pypiPurl, uuidFrom } from "./names.js";
import type { SbomComponent, SbomInput } from "./types.js";

export const CYCLONEDX_SPEC_VERSION = "1.6";
const IMAGE_REF = "image";

function componentOf(component: SbomComponent, bomRef: string): Record<string, unknown> {
  const { metadata, origin } = component;
  const licenses = cycloneDxLicenses(metadata);
  const properties = [
    { name: "pypakr:layer", value: component.layerDigest },
    ...(component.wheelTags.length > 0 ? [{ name: "pypakr:wheel-tags", value: component.wheelTags.join(" ") }] : []),
    ...(metadata?.requiresPython ? [{ name: "pypakr:requires-python", value: metadata.requiresPython }] : []),
  ];
  const externalReferences = [
    ...(metadata?.homepage ? [{ type: "website", url: metadata.homepage }] : []),
    ...(origin?.url ? [{ type: "distribution", url: origin.url, hashes: [{ alg: "SHA-256", content: origin.sha256 }] }] : []),
  ];
  return {
    type: "library",
    "bom-ref": bomRef,
    name: component.name,
    version: component.version,
    ...(metadata?.summary ? { description: metadata.summary } : {}),
    ...(origin ? { hashes: [{ alg: "SHA-256", content: origin.sha256 }] } : {}),
    ...(licenses.length > 0 ? { licenses } : {}),
    purl: pypiPurl(component.name, component.version, origin?.filename),
    ...(externalReferences.length > 0 ? { externalReferences } : {}),
    properties,
  };
}

/** The document, as an object to serialize with JSON.stringify (key order is fixed, so its text is too). */
export function cycloneDxDocument(input: SbomInput): Record<string, unknown> {
  const components = [...input.components].sort((a, b) => compare(normalizeName(a.name), normalizeName(b.name)) || compare(a.version, b.version) || compare(a.layerDigest, b.layerDigest));
  // bom-refs must be unique; a config could list one distribution twice (two layers), which the layer tells apart.
  const used = new Set<string>([IMAGE_REF]);
  const refs = components.map((component) => {
    const base = pypiPurl(component.name, component.version);
    let ref = used.has(base) ? `${base}#${component.layerDigest}` : base;
    for (let n = 2; used.has(ref); n++) ref = `${base}#${n}`;
    used.add(ref);
    return ref;
  });
  const image = input.reference ? parseImageName(input.reference) : undefined;
  return {
    bomFormat: "CycloneDX",
    specVersion: CYCLONEDX_SPEC_VERSION,
    serialNumber: `urn:uuid:${uuidFrom(input.manifestDigest)}`,
    version: 1,
    metadata: {
      timestamp: input.created,
      tools: { components: [{ type: "application", name: "pypakr", "bom-ref": "pypakr" }] },
      component: {
        type: "container",
        "bom-ref": IMAGE_REF,
        name: image?.repository ?? input.manifestDigest,
        version: image?.tag ?? input.manifestDigest,
        purl: ociPurl(input.manifestDigest, input.architecture, input.reference),
        properties: [
          { name: "pypakr:manifest-digest", value: input.manifestDigest },
          { name: "pypakr:python", value: `${input.python.implementation} ${input.python.version}` },
          { name: "pypakr:platform", value: `${input.os}/${input.architecture}` },
        ],
      },
    },
    components: components.map((component, index) => componentOf(component, refs[index] ?? "")),
    // What each distribution needs is not in the image (Requires-Dist is not read), so only the image's own edges are claimed.
    dependencies: [{ ref: IMAGE_REF, dependsOn: refs }],
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
