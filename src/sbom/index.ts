/** sbom/'s face: CycloneDX SBOMs and PEP 751 lock files of an image, and the distribution metadata they are made from. */
export type { DistributionMetadata, SbomComponent, SbomInput } from "./types.js";
