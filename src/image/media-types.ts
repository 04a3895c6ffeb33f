export const OCI_LAYOUT_VERSION = "1.0.0";
export const MEDIA_TYPE_INDEX = "application/vnd.oci.image.index.v1+json";
export const MEDIA_TYPE_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/**
 * DESIGN.md names `application/vnd.pypakr.config.v1+json`; we use the standard
 * OCI config type instead, because skopeo (and containers/image) refuse
 * "image-specific operations" such as `skopeo inspect` on any other config
 * type. pypakr's data lives in the config's top-level `pypakr` field, which
 * OCI readers ignore; the manifest annotation below marks a pypakr image.
 */
export const MEDIA_TYPE_CONFIG = "application/vnd.oci.image.config.v1+json";
export const MEDIA_TYPE_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
export const MEDIA_TYPE_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";
export type LayerMediaType = typeof MEDIA_TYPE_LAYER_GZIP | typeof MEDIA_TYPE_LAYER_ZSTD;
export const ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name";
export const ANNOTATION_PYPAKR_FORMAT = "org.pypakr.image.format";
export const PYPAKR_FORMAT_VERSION = 2;
/**
 * The largest manifest and config pypakr reads, whether pulled or in an image
 * file: far more than a real one needs (a config lists each distribution and
 * relocated file once), and little enough to read whole into memory. A
 * descriptor naming more is refused before any of it is read.
 */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
