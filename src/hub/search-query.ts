/**
 * What a user types into the hub's search box, read as free text and, when it
 * names a distribution, as that distribution with an optional PEP 440
 * specifier: "flask" (any version), "flask 3.1" (==3.1.*), "flask==3.1.0",
 * "urllib3<2", "urllib3 <2,>=1.26". Anything else is free text only.
 */
import { PypakrError } from "../util/errors.js";
import type { SearchQuery } from "./types.js";
import { normalizedName, specifierClauses } from "./versions.js";

/** Longer queries are cut here: no name, version or phrase worth searching for is longer. */
export const MAX_QUERY_LENGTH = 200;

const QUERY_FORMS = 'Search by words, or by a distribution and a version: "flask", "flask 3.1", "flask==3.1.0", "urllib3<2", "urllib3 >=1.26,<2".';

/** A PEP 508 distribution name. */
const NAME = "[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?";
/** A name followed by something that starts like a comparison (a lone "=" too, so that "flask=3" gets a hint rather than a text search). */
const NAME_AND_SPECIFIER = new RegExp(`^(${NAME})\\s*((?:===|==|~=|!=|<=|>=|<|>|=).*)$`, "s");
const STARTS_WITH_OPERATOR = /^(?:===|==|~=|!=|<=|>=|<|>)/;
/** A bare version after a name: "3", "3.1", "3.1.0rc1", "3.1.*"; a trailing "." is what search-as-you-type sends mid-word. */
const BARE_VERSION = /^v?[0-9][A-Za-z0-9.!+_-]*(?:\.\*)?$/i;
const PLAIN_RELEASE = /^v?[0-9]+(?:\.[0-9]+)*$/i;

function badQuery(message: string): PypakrError {
  return new PypakrError(message, { code: "bad-query", hint: QUERY_FORMS });
}

/** Control characters out, whitespace collapsed, cut to MAX_QUERY_LENGTH code points. */
function cleanQuery(q: string): string {
  // eslint-disable-next-line no-control-regex
  const cleaned = q.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ").replace(/\s+/g, " ").trim();
  return Array.from(cleaned).slice(0, MAX_QUERY_LENGTH).join("").trim();
}

function distributionQuery(name: string, specifier: string): SearchQuery {
  const compact = specifier.replace(/\s+/g, "");
  if (specifierClauses(compact) === null) {
    throw badQuery(`"${compact}" is not a version specifier PEP 440 knows (for ${name})`);
  }
  return { text: name, distribution: { name: normalizedName(name), specifier: compact } };
}

export function parseSearchQuery(q: string): SearchQuery {
  const text = cleanQuery(q);
  if (text === "") return { text: "" };
  if (STARTS_WITH_OPERATOR.test(text)) throw badQuery(`"${text}" has a version but no distribution name before it`);

  const withSpecifier = NAME_AND_SPECIFIER.exec(text);
  if (withSpecifier) return distributionQuery(withSpecifier[1] ?? "", withSpecifier[2] ?? "");

  const words = text.split(" ");
  const [first = "", second = ""] = words;
  const isName = new RegExp(`^${NAME}$`).test(first);
  if (words.length === 1 && isName) return { text, distribution: { name: normalizedName(first), specifier: null } };
  if (words.length === 2 && isName && BARE_VERSION.test(second)) {
    const version = second.replace(/^v/i, "").replace(/\.$/, "");
    // "flask 3.1" means any 3.1.x; a version with a pre, post or dev part cannot take a wildcard and means itself.
    const specifier = version.endsWith(".*") ? `==${version}` : PLAIN_RELEASE.test(version) ? `==${version}.*` : `==${version}`;
    return distributionQuery(first, specifier);
  }
  return { text };
}
