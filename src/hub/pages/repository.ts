import { html, trusted, type SafeHtml } from "../html.js";
import { MAX_DESCRIPTION_BYTES } from "../markdown.js";
import type { RepositoryPage } from "../types.js";
import { urls } from "../urls.js";
import { command, csrfField, digest, pullCommand, size, time, type View } from "./layout.js";

export function repositoryPage(page: RepositoryPage, view: View): SafeHtml {
  return html`<h1>${page.name}</h1>
<section class="description">${page.descriptionHtml ? trusted(page.descriptionHtml) : html`<p class="muted">No description.</p>`}</section>
${view.admin ? descriptionForm(page, view) : ""}
<h2>Tags <span class="muted">(${page.tags.length})</span></h2>
${
  page.tags.length === 0
    ? html`<p class="muted">The registry lists no tag of this repository.</p>`
    : html`<table>
<thead><tr><th>Tag</th><th>Python</th><th class="num">Distributions</th><th class="num">Size</th><th>Digest</th><th>Pushed</th><th>Pull</th></tr></thead>
<tbody>${page.tags.map(
        (tag) => html`<tr>
<td><a href="${urls.tag(page.name, tag.tag)}">${tag.tag}</a>${tag.kind === "ordinary" ? html` <span class="badge">ordinary</span>` : ""}</td>
<td>${tag.python ?? html`<span class="muted">—</span>`}</td>
<td class="num">${tag.kind === "pypakr" ? tag.distributionCount : html`<span class="muted">—</span>`}</td>
<td class="num">${size(tag.compressedSize)}</td>
<td>${digest(tag.digest)}</td>
<td>${time(tag.pushedAt, view.now)}${tag.pushedBy ? html` by ${tag.pushedBy}` : ""}</td>
<td>${command(pullCommand(view, page.name, tag.tag))}</td>
</tr>`,
      )}</tbody>
</table>`
}
${page.tags.length >= 2 ? diffForm(page) : ""}`;
}

export function diffForm(page: RepositoryPage, from?: string, to?: string): SafeHtml {
  const older = from ?? page.tags[1]?.tag;
  const newer = to ?? page.tags[0]?.tag;
  const options = (selected: string | undefined) => page.tags.map((tag) => html`<option value="${tag.tag}"${tag.tag === selected ? html` selected` : ""}>${tag.tag}</option>`);
  return html`<form class="diff" action="${urls.diff(page.name)}" method="get">
<h2>Compare two tags</h2>
<label>From <select name="from">${options(older)}</select></label>
<label>to <select name="to">${options(newer)}</select></label>
<button type="submit">Compare</button>
</form>`;
}

function descriptionForm(page: RepositoryPage, view: View): SafeHtml {
  return html`<details class="edit"><summary>Edit the description</summary>
<form action="${urls.description(page.name)}" method="post">
${csrfField(view)}
<textarea name="description" rows="12" maxlength="${MAX_DESCRIPTION_BYTES}">${page.description}</textarea>
<p class="muted">Markdown (no HTML; links to http, https and mailto), at most ${MAX_DESCRIPTION_BYTES / 1024} KiB.</p>
<button type="submit">Save</button>
</form>
</details>`;
}
