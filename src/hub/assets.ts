/**
 * The hub's one stylesheet and one script, kept as strings so the bundle is
 * one file. The script only adds to pages that work without it: copy buttons
 * (the command is on the page as text) and search as you type (the search box
 * is a plain GET form). It builds the result list with textContent and
 * createElement, never innerHTML: a repository name from the API stays text.
 */
import { createHash } from "node:crypto";

const CSS = `
:root { --fg: #1d232b; --muted: #5d6b7a; --line: #d9dee4; --bg: #ffffff; --soft: #f4f6f8; --accent: #1f5fa8; --danger: #b3261e; --ok: #1e7b34; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre, textarea { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 16px; padding: 10px 24px; background: var(--soft); border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; font-size: 18px; color: var(--fg); }
form.search { position: relative; display: flex; gap: 6px; flex: 1 1 360px; max-width: 640px; }
form.search input { flex: 1; padding: 6px 10px; border: 1px solid var(--line); border-radius: 6px; font-size: 15px; }
header nav { margin-left: auto; display: flex; align-items: center; gap: 8px; }
.live { position: absolute; top: 100%; left: 0; right: 0; z-index: 5; margin: 4px 0 0; padding: 4px 0; list-style: none; background: var(--bg); border: 1px solid var(--line); border-radius: 6px; box-shadow: 0 4px 14px rgba(0,0,0,.08); }
.live li a, .live li span { display: block; padding: 4px 10px; }
.live li span { color: var(--muted); }
main { max-width: 1100px; margin: 0 auto; padding: 16px 24px 40px; }
footer { max-width: 1100px; margin: 0 auto; padding: 12px 24px; color: var(--muted); border-top: 1px solid var(--line); font-size: 13px; }
h1 { font-size: 24px; margin: 12px 0; word-break: break-word; }
h2 { font-size: 18px; margin: 28px 0 8px; }
table { width: 100%; border-collapse: collapse; margin: 8px 0; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; word-break: break-word; }
th { font-weight: 600; background: var(--soft); }
td.num, th.num { text-align: right; white-space: nowrap; }
tbody tr:hover { background: #fafbfc; }
tr.added td:nth-child(2), tr.upgraded td:nth-child(2) { color: var(--ok); }
tr.removed td:nth-child(2), tr.downgraded td:nth-child(2) { color: var(--danger); }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 6px; border: 1px solid var(--line); border-radius: 10px; font-size: 12px; color: var(--muted); }
.command { display: flex; align-items: center; gap: 6px; margin: 4px 0; }
.command code { padding: 4px 8px; background: var(--soft); border: 1px solid var(--line); border-radius: 4px; white-space: nowrap; overflow-x: auto; max-width: 100%; }
td .command code { padding: 2px 6px; }
button { font: inherit; padding: 4px 12px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); cursor: pointer; }
button:hover { background: var(--soft); }
button.copy { padding: 2px 8px; font-size: 12px; }
button.link { border: 0; padding: 0; background: none; color: var(--accent); }
.danger, button.danger { color: var(--danger); }
button.danger { border-color: var(--danger); }
form.inline { display: inline; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-word; }
.notice { padding: 8px 12px; border-radius: 6px; margin: 12px 0; border: 1px solid var(--line); }
.notice.error { border-color: var(--danger); background: #fdf2f1; }
.notice.info { border-color: var(--ok); background: #f1f8f2; }
.notice p { margin: 4px 0; }
.hint { color: var(--muted); }
.description { padding: 4px 0; }
.description pre { background: var(--soft); padding: 8px; overflow-x: auto; }
.edit textarea { width: 100%; }
form.diff, form.login { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; }
form.diff h2 { width: 100%; }
.help dt { margin-top: 6px; }
.crumbs { margin: 0; color: var(--muted); }
ul.plain { list-style: none; padding: 0; }
.pager { display: flex; gap: 16px; }
`;

const JS = `"use strict";
(function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(button.getAttribute("data-copy") || "").then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 1500);
      }, function () { button.textContent = "Copy failed"; });
    });
  });

  var input = document.querySelector("input[data-live-search]");
  var list = document.getElementById("live-results");
  if (!input || !list || !window.fetch) return;
  var timer = null;
  var asked = 0;
  function repositoryUrl(name) { return "/r/" + name.split("/").map(encodeURIComponent).join("/"); }
  function tagUrl(name, tag) { return repositoryUrl(name) + "/-/tags/" + encodeURIComponent(tag); }
  function item(href, text, note) {
    var li = document.createElement("li");
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    li.appendChild(a);
    if (note) { var span = document.createElement("span"); span.textContent = note; li.appendChild(span); }
    return li;
  }
  function show(results) {
    var items = [];
    results.repositories.slice(0, 8).forEach(function (hit) { items.push(item(repositoryUrl(hit.name), hit.name)); });
    results.distributions.slice(0, 8).forEach(function (hit) { items.push(item(tagUrl(hit.repository, hit.tag), hit.name + " " + hit.version + " in " + hit.repository + ":" + hit.tag)); });
    if (items.length === 0) { var none = document.createElement("li"); var span = document.createElement("span"); span.textContent = "No match"; none.appendChild(span); items.push(none); }
    list.replaceChildren.apply(list, items);
    list.hidden = false;
  }
  input.addEventListener("input", function () {
    clearTimeout(timer);
    var q = input.value.trim();
    if (q === "") { list.hidden = true; list.replaceChildren(); return; }
    timer = setTimeout(function () {
      var mine = ++asked;
      fetch("/api/search?q=" + encodeURIComponent(q), { headers: { accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (results) { if (mine === asked && results && results.repositories) show(results); })
        .catch(function () {});
    }, 150);
  });
  input.addEventListener("keydown", function (event) { if (event.key === "Escape") list.hidden = true; });
  document.addEventListener("click", function (event) { if (!list.contains(event.target) && event.target !== input) list.hidden = true; });
})();
`;

export interface Asset {
  type: string;
  body: Buffer;
  etag: string;
}

function asset(type: string, text: string): Asset {
  const body = Buffer.from(text, "utf8");
  return { type, body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 16)}"` };
}

export const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ["/-/static/hub.css", asset("text/css; charset=utf-8", CSS)],
  ["/-/static/hub.js", asset("text/javascript; charset=utf-8", JS)],
]);
