/** What sbom/ makes a tag's CycloneDX SBOM and pylock.toml from, gathered from the index (no registry read). */
import type { SbomInput } from "../sbom/index.js";
import type { IndexedTag } from "./types.js";

export function sbomInput(tag: IndexedTag, registry: string): SbomInput {
  const [os = "linux", architecture = "amd64"] = (tag.platforms[0] ?? "").split("/");
  return {
    reference: `${registry}/${tag.repository}:${tag.tag}`,
    manifestDigest: tag.digest,
    created: tag.created ?? tag.pushedAt,
    python: { implementation: tag.python?.implementation ?? "cpython", version: tag.python?.version ?? "" },
    architecture,
    os,
    components: tag.layers.flatMap((layer) =>
      layer.distribution === undefined
        ? []
        : [
            {
              name: layer.distribution.name,
              version: layer.distribution.version,
              wheelTags: layer.distribution.wheelTags,
              layerDigest: layer.digest,
              ...(layer.distribution.origin ? { origin: layer.distribution.origin } : {}),
              metadata: layer.distribution.metadata,
            },
          ],
    ),
  };
}
