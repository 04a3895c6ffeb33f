/**
 * Repository descriptions: Markdown an admin writes, rendered once when it is
 * saved (rendering costs ~15 ms for a long one, too much per page view) and
 * kept as sanitized HTML beside the source. markdown-it with raw HTML off
 * already escapes tags and refuses javascript:/data: links; sanitize-html
 * behind it is the second wall, holding the output to a small allow-list
 * (no images, styles, classes or ids; links to http, https and mailto only,
 * marked nofollow) and moving headings down so a description cannot pass
 * for the page's own titles.
 */
import MarkdownIt from "markdown-it";
import sanitizeHtml from "sanitize-html";

/** The longest description the hub keeps, in UTF-8 bytes. */
export const MAX_DESCRIPTION_BYTES = 32 * 1024;

const markdown = new MarkdownIt({ html: false, linkify: true, typographer: false });

const SANITIZE: sanitizeHtml.IOptions = {
  allowedTags: ["p", "h3", "h4", "h5", "h6", "a", "code", "pre", "em", "strong", "del", "s", "ul", "ol", "li", "blockquote", "hr", "br", "table", "thead", "tbody", "tr", "th", "td"],
  allowedAttributes: { a: ["href", "title", "rel"], ol: ["start"], th: ["align"], td: ["align"] },
  allowedSchemes: ["http", "https", "mailto"],
  allowedSchemesAppliedToAttributes: ["href"],
  allowProtocolRelative: false,
  disallowedTagsMode: "escape",
  transformTags: {
    h1: "h3",
    h2: "h4",
    h3: "h5",
    h4: "h6",
    h5: "h6",
    // rel is kept only because the allow-list above names it for <a>.
    a: sanitizeHtml.simpleTransform("a", { rel: "nofollow noopener noreferrer ugc" }),
  },
};

/** The sanitized HTML of a description's Markdown (a string of markup that is safe to embed). */
export function renderDescription(source: string): string {
  return sanitizeHtml(markdown.render(source), SANITIZE);
}

/** Text a description may hold: control characters other than tab and line feed are dropped, line ends made \n. */
export function cleanDescription(source: string): string {
  // eslint-disable-next-line no-control-regex -- the very characters to drop
  return source.replace(/\r\n?/g, "\n").replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, "");
}
