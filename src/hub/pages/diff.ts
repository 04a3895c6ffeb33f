import { html, type SafeHtml } from "../html.js";
import type { RepositoryPage, TagDiff } from "../types.js";
import { urls } from "../urls.js";
import { type View } from "./layout.js";
import { diffForm } from "./repository.js";

export function diffPage(diff: TagDiff, repository: RepositoryPage, _view: View): SafeHtml {
  const changes = diff.added.length + diff.removed.length + diff.changed.length;
  return html`<p class="crumbs"><a href="${urls.repository(diff.repository)}">${diff.repository}</a></p>
<h1>${diff.repository}: <a href="${urls.tag(diff.repository, diff.from)}">${diff.from}</a> → <a href="${urls.tag(diff.repository, diff.to)}">${diff.to}</a></h1>
<p class="muted">${changes === 0 ? "The two tags hold the same distributions." : summary(diff)}</p>
${
  changes === 0
    ? ""
    : html`<table class="diff">
<thead><tr><th>Distribution</th><th>Change</th><th>${diff.from}</th><th>${diff.to}</th></tr></thead>
<tbody>
${diff.added.map((entry) => html`<tr class="added"><td>${entry.name}</td><td>added</td><td></td><td>${entry.version}</td></tr>`)}
${diff.changed.map((entry) => html`<tr class="${entry.direction}"><td>${entry.name}</td><td>${entry.direction}</td><td>${entry.from}</td><td>${entry.to}</td></tr>`)}
${diff.removed.map((entry) => html`<tr class="removed"><td>${entry.name}</td><td>removed</td><td>${entry.version}</td><td></td></tr>`)}
</tbody>
</table>`
}
${diff.unchanged.length > 0 ? html`<details><summary>Unchanged (${diff.unchanged.length})</summary><ul class="plain">${diff.unchanged.map((entry) => html`<li>${entry.name} ${entry.version}</li>`)}</ul></details>` : ""}
${diffForm(repository, diff.from, diff.to)}`;
}

/** "1 added, 1 upgraded, 6 unchanged": the counts that are not zero. */
function summary(diff: TagDiff): string {
  const count = (direction: string) => diff.changed.filter((entry) => entry.direction === direction).length;
  const parts: [number, string][] = [
    [diff.added.length, "added"],
    [diff.removed.length, "removed"],
    [count("upgraded"), "upgraded"],
    [count("downgraded"), "downgraded"],
    [count("changed"), "changed"],
    [diff.unchanged.length, "unchanged"],
  ];
  return `${parts
    .filter(([number]) => number > 0)
    .map(([number, word]) => `${number} ${word}`)
    .join(", ")}.`;
}
