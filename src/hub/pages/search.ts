import { html, type SafeHtml } from "../html.js";
import type { SearchResults } from "../types.js";
import { urls } from "../urls.js";
import { repositoryTable } from "./home.js";
import { notice, time, type View } from "./layout.js";

export function searchPage(results: SearchResults, view: View): SafeHtml {
  return html`<h1>Search${results.query ? html` for <q>${results.query}</q>` : ""}</h1>
${results.query === "" ? help() : html`<h2>Repositories <span class="muted">(${results.repositories.length})</span></h2>
${repositoryTable(results.repositories, view)}
<h2>Distributions <span class="muted">(${results.distributions.length})</span></h2>
${distributionTable(results, view)}
${help()}`}`;
}

/** The page for a query that cannot be read (a bad version specifier): what was wrong and the forms that work. */
export function badQueryPage(query: string, message: string, hint: string | null): SafeHtml {
  return html`<h1>Search for <q>${query}</q></h1>
${notice("error", message, hint)}
${help()}`;
}

function distributionTable(results: SearchResults, view: View): SafeHtml {
  if (results.distributions.length === 0) return html`<p class="muted">No image holds a distribution that matches.</p>`;
  return html`<table>
<thead><tr><th>Distribution</th><th>Version</th><th>Image</th><th>Pushed</th></tr></thead>
<tbody>${results.distributions.map(
    (hit) => html`<tr><td>${hit.name}</td><td>${hit.version}</td><td><a href="${urls.tag(hit.repository, hit.tag)}">${hit.repository}:${hit.tag}</a></td><td>${time(hit.pushedAt, view.now)}</td></tr>`,
  )}</tbody>
</table>`;
}

function help(): SafeHtml {
  return html`<section class="help">
<h2>How to search</h2>
<dl>
<dt><code>jokes</code></dt><dd>repositories whose name or description has the word (a prefix matches: <code>jok</code>), and images holding a distribution of that name</dd>
<dt><code>flask 3.1</code></dt><dd>images holding flask 3.1.x (<code>==3.1.*</code>)</dd>
<dt><code>flask==3.1.0</code></dt><dd>exactly that version</dd>
<dt><code>urllib3&lt;2</code>, <code>urllib3 &lt;2,&gt;=1.26</code></dt><dd>any PEP 440 version specifier</dd>
</dl>
</section>`;
}
