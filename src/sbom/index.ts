/** sbom/'s face: CycloneDX SBOMs and PEP 751 lock files of an image, and the distribution metadata they are made from. */
export type { DistributionMetadata, SbomComponent, SbomInput } from "./types.js";
export { CYCLONEDX_SPEC_VERSION, cycloneDxDocument } from "./cyclonedx.js";
export { sbomInputFromImage, sbomInputOfArgument } from "./input.js";
export { MAX_METADATA_BYTES, readLayerMetadata } from "./layer.js";
export { cycloneDxLicenses, isSpdxExpression, licenseSummary } from "./licenses.js";
export { METADATA_LIMITS, parseDistributionMetadata } from "./metadata.js";
export { normalizeName, pypiPurl } from "./names.js";
export { pylockDocument } from "./pylock.js";
