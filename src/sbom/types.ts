/**
 * The contract between sbom/ and its two users (the `pypakr sbom` command and
 * the hub): what an SBOM or lock file is made from, gathered by each user its
 * own way (the CLI from the store, the hub from its index), and the
 * distribution metadata sbom/ reads out of a layer.
 */
import type { DistributionOrigin } from "../image/index.js";

/**
 * What a distribution's own METADATA file says (core metadata, an email-header
 * document), cut to the fields the hub and the SBOM show. Every value comes
 * from an image: lengths are capped and control characters stripped when read.
 */
export interface DistributionMetadata {
  /** `License-Expression` (PEP 639), as written: not known to be valid SPDX. */
  licenseExpression: string | null;
  /** `License` free text (first line only; some packages put the whole license here). */
  license: string | null;
  /** The `License :: ...` classifiers, each without its "License :: " prefix. */
  licenseClassifiers: string[];
  /** `Requires-Python` as written. */
  requiresPython: string | null;
  summary: string | null;
  /** `Home-page`, or the first `Project-URL`, only when it is an http(s) URL. */
  homepage: string | null;
}

/** One distribution of an image, with what is known of it. */
export interface SbomComponent {
  name: string;
  version: string;
  wheelTags: string[];
  /** The pypakr layer that holds it. */
  layerDigest: string;
  origin?: DistributionOrigin;
  /** null when the layer held no readable METADATA. */
  metadata: DistributionMetadata | null;
}

export interface SbomInput {
  /** How a user names the image (HOST/REPO:TAG, or the local tag); may be absent for an image known by digest only. */
  reference?: string;
  /** The image's manifest digest: the SBOM's identity (its serial number is derived from it, so the same image gives the same document). */
  manifestDigest: string;
  /** The image config's `created`. */
  created: string;
  /** The lock's requires-python is `==MAJOR.MINOR.*` of this version. */
  python: { implementation: string; version: string };
  architecture: string;
  os: string;
  components: SbomComponent[];
}
