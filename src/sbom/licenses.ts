/**
 * A distribution's license as CycloneDX writes it. CycloneDX validates a
 * `license.id` against the SPDX list (an unknown id fails the whole
 * document) and forbids mixing an `expression` with `license` entries, so:
 * a `License-Expression` (PEP 639) that parses as an SPDX expression is the
 * one entry; otherwise each license the METADATA names (License text, the
 * expression as text, the classifiers) is a `license.name`, or a
 * `license.id` from the small table below when pypakr knows the SPDX id.
 */
import type { DistributionMetadata } from "./types.js";

/** Trove classifiers (their last segment) and the SPDX id each one means without doubt; ambiguous ones ("BSD License", "Apache Software License") stay names. */
const CLASSIFIER_IDS: Record<string, string> = {
  "MIT License": "MIT",
  "MIT No Attribution License (MIT-0)": "MIT-0",
  "ISC License (ISCL)": "ISC",
  "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
  "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
  "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
  "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
  "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
  "GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
  "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
  "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
  "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
  "GNU Affero General Public License v3": "AGPL-3.0-only",
  "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
  "Python Software Foundation License": "PSF-2.0",
  "The Unlicense (Unlicense)": "Unlicense",
  "Zero-Clause BSD (0BSD)": "0BSD",
  "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
  "Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
  "Universal Permissive License (UPL)": "UPL-1.0",
  "zlib/libpng License": "Zlib",
  "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
};

/** SPDX ids a `License:` field often holds as they are (case aside); the same ids the table above maps to, and a few more. */
const KNOWN_IDS = new Map([...new Set([...Object.values(CLASSIFIER_IDS), "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "MPL-2.0", "LGPL-2.1-only", "LGPL-2.1-or-later", "Python-2.0", "HPND"])].map((id) => [id.toLowerCase(), id]));

export function classifierSpdxId(classifier: string): string | undefined {
  return CLASSIFIER_IDS[classifier.split("::").pop()?.trim() ?? ""];
}

/** Every SPDX id this module may write into `license.id` (the unit test checks each is on the SPDX list). */
export function knownSpdxIds(): string[] {
  return [...KNOWN_IDS.values()];
}

const TOKEN = /\s*(\(|\)|[A-Za-z0-9.+:-]+)/y;
const LICENSE_ID = /^(?:(?:DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+|[A-Za-z0-9][A-Za-z0-9.-]*\+?)$/;
const EXCEPTION_ID = /^(?:(?:DocumentRef-[A-Za-z0-9.-]+:)?AdditionRef-[A-Za-z0-9.-]+|[A-Za-z0-9][A-Za-z0-9.-]*)$/;
const OPERATORS = new Set(["AND", "OR", "WITH"]);

/**
 * Whether `text` is an SPDX license expression by its grammar (SPDX 2.3
 * annex D: ids, LicenseRef-s, AND/OR/WITH in capitals as PEP 639 writes
 * them, parentheses). Ids are not
 * checked against the SPDX list: a consumer does that, and an expression
 * is a string in CycloneDX's schema.
 */
export function isSpdxExpression(text: string): boolean {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(text);
    if (!match?.[1]) return /^\s*$/.test(text.slice(at)) && tokens.length > 0 ? parseExpression(tokens) : false;
    tokens.push(match[1]);
  }
  return tokens.length > 0 && parseExpression(tokens);
}

function parseExpression(tokens: string[]): boolean {
  let position = 0;
  const peek = () => tokens[position];
  // compound := term (("AND" | "OR") term)*, term := "(" compound ")" | id ["WITH" exception]
  const term = (depth: number): boolean => {
    const token = peek();
    if (token === undefined || depth > 32) return false;
    if (token === "(") {
      position++;
      if (!compound(depth + 1) || peek() !== ")") return false;
      position++;
      return true;
    }
    if (OPERATORS.has(token) || !LICENSE_ID.test(token)) return false;
    position++;
    if (peek() === "WITH") {
      position++;
      const exception = peek();
      if (exception === undefined || !EXCEPTION_ID.test(exception) || OPERATORS.has(exception)) return false;
      position++;
    }
    return true;
  };
  const compound = (depth: number): boolean => {
    if (!term(depth)) return false;
    while (peek() === "AND" || peek() === "OR") {
      position++;
      if (!term(depth)) return false;
    }
    return true;
  };
  return compound(0) && position === tokens.length;
}

export type CycloneDxLicense = { expression: string } | { license: { id: string } | { name: string } };

/** The `licenses` array of a component, or [] when the METADATA names none (or is unknown). */
export function cycloneDxLicenses(metadata: DistributionMetadata | null): CycloneDxLicense[] {
  if (!metadata) return [];
  if (metadata.licenseExpression && isSpdxExpression(metadata.licenseExpression)) return [{ expression: metadata.licenseExpression }];
  const entries: CycloneDxLicense[] = [];
  const seen = new Set<string>();
  const add = (entry: { id: string } | { name: string }) => {
    const key = ("id" in entry ? entry.id : entry.name).toLowerCase();
    if (seen.has(key)) return;
    seen.add(key);
    entries.push({ license: entry });
  };
  const asLicense = (text: string) => {
    const id = KNOWN_IDS.get(text.toLowerCase());
    return id ? { id } : { name: text };
  };
  if (metadata.licenseExpression) add({ name: metadata.licenseExpression });
  if (metadata.license) add(asLicense(metadata.license));
  for (const classifier of metadata.licenseClassifiers) {
    const id = classifierSpdxId(classifier);
    add(id ? { id } : { name: classifier.split("::").pop()?.trim() || classifier });
  }
  return entries;
}

/** One line saying what license a distribution names, for people (the hub's tables): the expression, else License, else the classifiers. */
export function licenseSummary(metadata: DistributionMetadata | null): string | null {
  if (!metadata) return null;
  if (metadata.licenseExpression) return metadata.licenseExpression;
  if (metadata.license) return metadata.license;
  const names = metadata.licenseClassifiers.map((classifier) => classifier.split("::").pop()?.trim() ?? classifier).filter((name) => name !== "");
  return names.length > 0 ? names.join(", ") : null;
}
