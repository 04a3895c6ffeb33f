import { html, type SafeHtml } from "../html.js";
import type { RepositoryHit, TagSummary } from "../types.js";
import { urls } from "../urls.js";
import { size, time, type View } from "./layout.js";

export interface HomeData {
  counts: { repositories: number; tags: number; distributions: number };
  recent: TagSummary[];
  repositories: RepositoryHit[];
  offset: number;
  /** The next page's offset, or null on the last page. */
  next: number | null;
}

export function homePage(data: HomeData, view: View): SafeHtml {
  return html`<h1>Python images in <code>${view.registry}</code></h1>
<p class="muted">${data.counts.repositories} repositories, ${data.counts.tags} tags, ${data.counts.distributions} distributions. Search by name or description, or by a distribution and version: <a href="${urls.search("flask 3.1")}">flask 3.1</a>, <a href="${urls.search("urllib3<2")}">urllib3&lt;2</a>.</p>
${data.offset === 0 ? html`<h2>Recent pushes</h2>${recentTable(data.recent, view)}` : ""}
<h2>Repositories</h2>
${repositoryTable(data.repositories, view)}
<p class="pager">${data.offset > 0 ? html`<a href="${urls.home(Math.max(0, data.offset - REPOSITORIES_PER_PAGE))}">← newer</a>` : ""} ${data.next !== null ? html`<a href="${urls.home(data.next)}">older →</a>` : ""}</p>`;
}

export const RECENT_COUNT = 20;
export const REPOSITORIES_PER_PAGE = 50;

export function recentTable(tags: TagSummary[], view: View, withRepository = true): SafeHtml {
  if (tags.length === 0) return html`<p class="muted">Nothing pushed yet.</p>`;
  return html`<table>
<thead><tr><th>${withRepository ? "Image" : "Tag"}</th><th>Python</th><th class="num">Distributions</th><th class="num">Size</th><th>Pushed</th></tr></thead>
<tbody>${tags.map(
    (tag) => html`<tr>
<td><a href="${urls.tag(tag.repository, tag.tag)}">${withRepository ? `${tag.repository}:${tag.tag}` : tag.tag}</a>${tag.kind === "ordinary" ? html` <span class="badge">ordinary</span>` : ""}</td>
<td>${tag.python ?? html`<span class="muted">—</span>`}</td>
<td class="num">${tag.kind === "pypakr" ? tag.distributionCount : html`<span class="muted">—</span>`}</td>
<td class="num">${size(tag.compressedSize)}</td>
<td>${time(tag.pushedAt, view.now)}${tag.pushedBy ? html` by ${tag.pushedBy}` : ""}</td>
</tr>`,
  )}</tbody>
</table>`;
}

export function repositoryTable(repositories: RepositoryHit[], view: View): SafeHtml {
  if (repositories.length === 0) return html`<p class="muted">No repositories.</p>`;
  return html`<table>
<thead><tr><th>Repository</th><th>Description</th><th class="num">Tags</th><th>Last push</th></tr></thead>
<tbody>${repositories.map(
    (hit) => html`<tr><td><a href="${urls.repository(hit.name)}">${hit.name}</a></td><td>${hit.excerpt}</td><td class="num">${hit.tagCount}</td><td>${time(hit.lastPushedAt, view.now)}</td></tr>`,
  )}</tbody>
</table>`;
}
