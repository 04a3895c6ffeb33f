/**
 * The frame of every page (header with the search box and the admin's
 * state, main, footer), and the small pieces the pages share: dates, sizes,
 * digests, commands with a copy button. One stylesheet and one script, both
 * from /-/static/ (the CSP allows no inline script or style).
 */
import { formatBytes } from "../../util/log.js";
import { html, type SafeHtml } from "../html.js";
import { urls } from "../urls.js";

/** What every page knows of the request it answers. */
export interface View {
  /** The request carries a live admin session. */
  admin: boolean;
  /** The session's CSRF token, for its forms (null without a session). */
  csrf: string | null;
  /** The registry's host[:port], as pull commands name it. */
  registry: string;
  /** The page's own path and query (where the login form returns to). */
  path: string;
  now: Date;
  /** Reads need a login (--private). */
  private: boolean;
}

export interface PageOptions {
  /** The search box's text. */
  q?: string;
  /** The JSON twin of the page, linked in the footer. */
  api?: string;
}

export function layout(view: View, title: string, body: SafeHtml, options: PageOptions = {}): SafeHtml {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · pypakr hub</title>
<link rel="stylesheet" href="/-/static/hub.css">
<script src="/-/static/hub.js" defer></script>
</head>
<body>
<header class="top">
<a class="brand" href="/">pypakr hub</a>
<form class="search" action="/search" method="get" role="search">
<input id="q" name="q" type="search" value="${options.q ?? ""}" placeholder="Search repositories, or flask 3.1, urllib3&lt;2" autocomplete="off" maxlength="200" aria-label="Search" data-live-search>
<button type="submit">Search</button>
<ul id="live-results" class="live" hidden></ul>
</form>
<nav>${
    view.admin
      ? html`<span class="admin">admin</span> <form class="inline" action="${urls.logout()}" method="post"><input type="hidden" name="csrf" value="${view.csrf ?? ""}"><button type="submit" class="link">Log out</button></form>`
      : html`<a href="${urls.login(view.path)}">Admin login</a>`
  }</nav>
</header>
<main>
${body}
</main>
<footer>Registry <code>${view.registry}</code>${options.api ? html` · <a href="${options.api}">JSON</a>` : ""}</footer>
</body>
</html>
`;
}

/** A UTC time shown relative to now ("3 hours ago"), with the ISO time in the element. */
export function time(iso: string | null, now: Date): SafeHtml {
  if (iso === null) return html`<span class="muted">unknown</span>`;
  return html`<time datetime="${iso}" title="${iso}">${ago(iso, now)}</time>`;
}

export function ago(iso: string, now: Date): string {
  const seconds = Math.round((now.getTime() - Date.parse(iso)) / 1000);
  if (Number.isNaN(seconds)) return iso;
  if (seconds < 0) return iso.slice(0, 10);
  const steps: [number, string][] = [
    [60, "second"],
    [60, "minute"],
    [24, "hour"],
    [30, "day"],
    [12, "month"],
  ];
  let value = seconds;
  for (const [size, unit] of steps) {
    if (value < size) return value === 0 && unit === "second" ? "just now" : `${value} ${unit}${value === 1 ? "" : "s"} ago`;
    value = Math.floor(value / size);
  }
  return `${value} year${value === 1 ? "" : "s"} ago`;
}

export function size(bytes: number): SafeHtml {
  return html`<span title="${bytes} bytes">${formatBytes(bytes)}</span>`;
}

/** sha256:0123456789ab…, the full digest in the title and the copy button. */
export function digest(value: string): SafeHtml {
  return html`<code class="digest" title="${value}">${value.slice(0, 19)}</code>`;
}

/** A command to paste, shown as text (it works without JS) with a copy button the script reveals. */
export function command(text: string): SafeHtml {
  return html`<div class="command"><code>${text}</code><button type="button" class="copy" data-copy="${text}" hidden>Copy</button></div>`;
}

export function pullCommand(view: View, repository: string, tag: string): string {
  return `pypakr pull ${view.registry}/${repository}:${tag}`;
}

export function runCommand(view: View, repository: string, tag: string): string {
  return `pypakr run -i ${view.registry}/${repository}:${tag}`;
}

/** A message box for what went wrong (or right), with an optional hint. */
export function notice(kind: "error" | "info", message: string, hint?: string | null): SafeHtml {
  return html`<div class="notice ${kind}"><p>${message}</p>${hint ? html`<p class="hint">${hint}</p>` : ""}</div>`;
}

export function csrfField(view: View): SafeHtml {
  return html`<input type="hidden" name="csrf" value="${view.csrf ?? ""}">`;
}
