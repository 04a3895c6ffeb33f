/** image/'s face: the format's schemas and names, the layer and archive writers, the verifying archive reader, safe extraction, and relocation of file contents. Other folders import only this file (the lint enforces it; see eslint.config.js). */
export { type Compression, DEFAULT_COMPRESSION, describeCompression, parseCompression } from "./compression.js";
export { type ArchiveBlob, writeBlobsArchive, writeImageArchive, type WrittenImage } from "./archive.js";
export { checkSymlinks, DEFAULT_MAX_ENTRIES, entryPathProblem, extractTar, linkDestination, type ListedEntry, symlinkProblem } from "./extract/index.js";
export { baseNeedSchema, type Descriptor, type Distribution, type DistributionOrigin, distributionOriginSchema, ENVIRONMENT_NAME, type ImageConfig, imageConfigSchema, type ImageManifest, manifestSchema, ociArchitecture, type PypakrConfig, pypakrConfigSchema, type RelocationKind } from "./format.js";
export { formatInspection, inspectImage } from "./inspect.js";
export { type LayerEntry, WHITEOUT_PREFIX, writeLayer, type WrittenLayer } from "./layer-writer.js";
export { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, PYPAKR_FORMAT_VERSION } from "./media-types.js";
export { digestPrefix, fullDigest, isDigest, isImageName, isRegistryHost, isRepositoryName, isTag, looksLikeDigest } from "./names.js";
export { checkDocumentSize, choosePlatformEntry, declaredMediaType, isIndexMediaType, MAX_INDEX_DEPTH, notAnOrdinaryImage, type OrdinaryArchiveOptions, parseOrdinaryConfig, parseOrdinaryManifest, platformName, readOrdinaryArchive } from "./ordinary-read.js";
export { type BlobSource, checkLayers, type Image, type LayerCheck, notAnImage, openImage, readImageArchive } from "./reader.js";
export { CANONICAL_INTERPRETER, canonicalShebang, PLACEHOLDER, PREFIX_LENGTH, relocateContent, relocateText, RelocationError, relocationKind, replaceAll, unfixShebang, unsafePrefixReason } from "./relocation.js";
export { saveImage } from "./save.js";
export type { Inspection } from "./inspect.js";
export { MAX_ORDINARY_LAYERS, MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_DOCKER_LIST, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_LAYER_TAR, ociLayerMediaType, type OrdinaryConfig, ordinaryConfigSchema, type OrdinaryImage, type OrdinaryManifest, ordinaryManifestSchema, type Platform, type PlatformIndex, platformIndexSchema, platformSchema } from "./ordinary.js";
