import { formatBytes } from "../../util/log.js";
import { showWord } from "../../util/printable.js";
import { html, type SafeHtml } from "../html.js";
import type { IndexedDistribution, IndexedLayer, IndexedTag } from "../types.js";
import { urls } from "../urls.js";
import { command, digest, pullCommand, runCommand, size, time, type View } from "./layout.js";

/** The license as the tag page shows it: License-Expression, else License and the classifiers. */
export function licenseText(distribution: IndexedDistribution): string {
  const metadata = distribution.metadata;
  if (metadata === null) return "";
  if (metadata.licenseExpression) return metadata.licenseExpression;
  return [metadata.license, ...metadata.licenseClassifiers].filter((part): part is string => !!part).join("; ");
}

export function tagPage(tag: IndexedTag, view: View): SafeHtml {
  const distributions = tag.layers.filter((layer): layer is IndexedLayer & { distribution: IndexedDistribution } => layer.distribution !== undefined);
  const others = tag.layers.filter((layer) => layer.distribution === undefined);
  return html`<p class="crumbs"><a href="${urls.repository(tag.repository)}">${tag.repository}</a></p>
<h1>${tag.repository}:${tag.tag}${tag.kind === "ordinary" ? html` <span class="badge">ordinary image</span>` : ""}</h1>
<dl class="facts">
${tag.python ? html`<dt>Python</dt><dd>${tag.python.implementation} ${tag.python.version} <span class="muted">(${tag.python.kind})</span></dd>` : ""}
<dt>Platform${tag.platforms.length === 1 ? "" : "s"}</dt><dd>${tag.platforms.length > 0 ? tag.platforms.join(", ") : html`<span class="muted">not named</span>`}</dd>
${tag.entrypoint.length > 0 || tag.kind === "pypakr" ? html`<dt>Entry point</dt><dd>${tag.entrypoint.length > 0 ? html`<code>${tag.entrypoint.map(showWord).join(" ")}</code>` : html`<span class="muted">none (./run)</span>`}</dd>` : ""}
<dt>Digest</dt><dd><code>${tag.digest}</code></dd>
<dt>Media type</dt><dd><code>${tag.mediaType}</code></dd>
<dt>Compressed size</dt><dd>${size(tag.compressedSize)}</dd>
<dt>Created</dt><dd>${time(tag.created, view.now)}</dd>
<dt>Pushed</dt><dd>${time(tag.pushedAt, view.now)}${tag.pushedBy ? html` by ${tag.pushedBy}` : ""}</dd>
</dl>
<h2>Pull${tag.kind === "pypakr" ? " and run" : ""}</h2>
${command(pullCommand(view, tag.repository, tag.tag))}
${tag.kind === "pypakr" ? command(runCommand(view, tag.repository, tag.tag)) : ""}
${tag.kind === "pypakr" ? html`<p class="downloads">Download: <a href="${urls.sbom(tag.repository, tag.tag)}" download>CycloneDX SBOM (JSON)</a> · <a href="${urls.pylock(tag.repository, tag.tag)}" download>pylock.toml</a></p>` : ""}
${Object.keys(tag.environment).length > 0 ? environmentTable(tag.environment) : ""}
${tag.kind === "pypakr" ? distributionTable(distributions) : ""}
${others.length > 0 ? otherLayers(tag, others) : ""}
${tag.kind === "ordinary" && tag.layers.length === 0 && tag.platforms.length > 0 ? html`<p class="muted">An index of ${tag.platforms.length} platform images; each has its own layers.</p>` : ""}
${view.admin ? html`<p><a class="danger" href="${urls.deleteTag(tag.repository, tag.tag)}">Delete this tag…</a></p>` : ""}`;
}

function environmentTable(environment: Record<string, string>): SafeHtml {
  return html`<h2>Environment</h2>
<table><thead><tr><th>Variable</th><th>Value</th></tr></thead>
<tbody>${Object.entries(environment).map(([name, value]) => html`<tr><td><code>${name}</code></td><td><code>${value}</code></td></tr>`)}</tbody></table>`;
}

function distributionTable(layers: (IndexedLayer & { distribution: IndexedDistribution })[]): SafeHtml {
  const total = layers.reduce((sum, layer) => sum + layer.size, 0);
  return html`<h2>Distributions <span class="muted">(${layers.length}, ${formatBytes(total)})</span></h2>
${
  layers.length === 0
    ? html`<p class="muted">None: the image holds only its app files.</p>`
    : html`<table class="layers">
<thead><tr><th>Name</th><th>Version</th><th>License</th><th>Wheel tags</th><th>Requires-Python</th><th class="num">Size</th></tr></thead>
<tbody>${layers.map(({ distribution, size: bytes, digest: layerDigest }) => {
        const license = licenseText(distribution);
        return html`<tr>
<td title="${distribution.metadata?.summary ?? ""}">${distribution.metadata?.homepage && /^https?:\/\//i.test(distribution.metadata.homepage) ? html`<a href="${distribution.metadata.homepage}" rel="nofollow noopener noreferrer">${distribution.name}</a>` : distribution.name}</td>
<td>${distribution.version}</td>
<td>${license || html`<span class="muted">${distribution.metadata === null ? "no METADATA" : "not stated"}</span>`}</td>
<td><code>${distribution.wheelTags.join(", ")}</code></td>
<td>${distribution.metadata?.requiresPython ?? html`<span class="muted">—</span>`}</td>
<td class="num" title="${layerDigest}">${size(bytes)}</td>
</tr>`;
      })}</tbody>
</table>`
}`;
}

function otherLayers(tag: IndexedTag, layers: IndexedLayer[]): SafeHtml {
  return html`<h2>${tag.kind === "pypakr" ? "App files" : `Layers (${layers.length})`}</h2>
<table><thead><tr><th>Layer</th><th>Media type</th><th class="num">Size</th></tr></thead>
<tbody>${layers.map((layer) => html`<tr><td>${digest(layer.digest)}</td><td><code>${layer.mediaType}</code></td><td class="num">${size(layer.size)}</td></tr>`)}</tbody></table>`;
}
