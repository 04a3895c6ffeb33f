/**
 * The hub's only way to make HTML: a tagged template, html`<td>${value}</td>`,
 * that escapes every interpolated value unless it is SafeHtml. SafeHtml is
 * made only by this template, by `trusted()` for the sanitizer's output
 * (markdown.ts) and by `constant()` for literals of the hub's own; no string
 * from an image, a registry or a user can become markup by being formatted.
 * Attribute values are always written in double quotes by the pages, and
 * escaping `"` and `'` keeps a value inside them.
 */

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export class SafeHtml {
  // A private field, so that no object literal (say, JSON from a request) can pass for one.
  readonly #text: string;
  private constructor(text: string) {
    this.#text = text;
  }
  /** Only this module makes SafeHtml (see the functions below). */
  static make(text: string): SafeHtml {
    return new SafeHtml(text);
  }
  toString(): string {
    return this.#text;
  }
}

/** What a template may interpolate: text (escaped), numbers, SafeHtml, lists of these; null, undefined and false write nothing. */
export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => ESCAPES[character] ?? character);
}

function piece(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.toString();
  if (Array.isArray(value)) return value.map(piece).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? "";
  values.forEach((value, index) => {
    out += piece(value) + (strings[index + 1] ?? "");
  });
  return SafeHtml.make(out);
}

/** Markup the hub's sanitizer produced (markdown.ts): never pass anything else. */
export function trusted(sanitized: string): SafeHtml {
  return SafeHtml.make(sanitized);
}
