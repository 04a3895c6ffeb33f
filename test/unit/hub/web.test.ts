/**
 * The hub's web safety parts on their own: the escaping template, Markdown
 * with hostile samples, sessions and CSRF tokens, the cross-site check, the
 * registry's notifications read as hostile input, route parsing, the bounded
 * body reader, the tokens and --private's verdict cache.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { loadToken, LoginThrottle, PrivateReads } from "../../../src/hub/access.js";
import { readLimitedBody, TooLarge } from "../../../src/hub/body.js";
import { parseEvents } from "../../../src/hub/events.js";
import { html, SafeHtml, trusted } from "../../../src/hub/html.js";
import { cleanDescription, renderDescription } from "../../../src/hub/markdown.js";
import { apiRoute, pageRoute } from "../../../src/hub/routes.js";
import { crossSiteProblem, SESSION_COOKIE, SESSION_LIFETIME_MS, Sessions } from "../../../src/hub/session.js";
import { PypakrError } from "../../../src/util/errors.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";

/** Just enough of an IncomingMessage for the header readers. */
function request(headers: Record<string, string>): http.IncomingMessage {
  return { headers } as unknown as http.IncomingMessage;
}

describe("html template", () => {
  test("escapes every interpolated string, in text and in attributes", () => {
    const name = "team/<script>alert(1)</script>";
    const version = `1.0" onmouseover="alert(1)`;
    const out = html`<td title="${version}">${name}</td><td title='${"x' onclick='y"}'>&amp;${"&"}</td>`.toString();
    assert.equal(out, `<td title="1.0&quot; onmouseover=&quot;alert(1)">team/&lt;script&gt;alert(1)&lt;/script&gt;</td><td title='x&#39; onclick=&#39;y'>&amp;&amp;</td>`);
  });

  test("passes SafeHtml and lists of it through, writes nothing for null, undefined and false", () => {
    const rows = ["<a>", "b"].map((cell) => html`<li>${cell}</li>`);
    assert.equal(html`<ul>${rows}</ul>${null}${undefined}${false}${0}`.toString(), "<ul><li>&lt;a&gt;</li><li>b</li></ul>0");
    assert.equal(html`${trusted("<p>kept</p>")}`.toString(), "<p>kept</p>");
  });

  test("an object that only looks like SafeHtml is escaped as text", () => {
    const forged = { toString: () => "<script>x</script>" } as unknown as string;
    assert.equal(html`${forged}`.toString(), "&lt;script&gt;x&lt;/script&gt;");
    assert.ok(!(JSON.parse('{"text":"<b>"}') instanceof SafeHtml));
  });
});

describe("Markdown descriptions", () => {
  const hostile = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](data:text/html,<script>alert(1)</script>)",
    "<a href=\"data:text/html,x\">x</a>",
    "<svg><script>alert(1)</script></svg>",
    '[t](https://example.test "t\\"onmouseover=alert(1)")',
    "```\n</code></pre><script>alert(1)</script>\n```",
    "![i](https://example.test/i.png)",
    "<iframe src=https://example.test></iframe>",
    "[x](vbscript:msgbox(1))",
    "<style>body{display:none}</style>",
  ];

  for (const sample of hostile) {
    test(`renders ${JSON.stringify(sample)} without live markup`, () => {
      const out = renderDescription(sample);
      // Escaped text may say anything; the real tags (a "<" that is markup) may not.
      const tags = out.match(/<[a-z][^>]*>/gi) ?? [];
      for (const tag of tags) {
        assert.match(tag, /^<(p|a|code|pre|em|strong|h[3-6]|ul|ol|li|blockquote|table|thead|tbody|tr|th|td|br|hr)[\s>]/i, out);
        assert.doesNotMatch(tag, /\son[a-z]+=/i, out);
        assert.doesNotMatch(tag, /\s(href|src)="(?!https?:|mailto:)/i, out);
      }
    });
  }

  test("raw HTML shows as text; links get rel nofollow; headings move below the page's own", () => {
    assert.match(renderDescription("<img src=x onerror=alert(1)>"), /&lt;img src=x onerror=alert\(1\)&gt;/);
    assert.equal(renderDescription("[docs](https://example.test/d)").trim(), '<p><a href="https://example.test/d" rel="nofollow noopener noreferrer ugc">docs</a></p>');
    assert.match(renderDescription("# Title\n\n## Sub"), /<h3>Title<\/h3>\s*<h4>Sub<\/h4>/);
    assert.match(renderDescription("| a | b |\n|---|---|\n| 1 | 2 |"), /<table>/);
  });

  test("control and bidi characters are dropped from a description, line ends made \\n", () => {
    assert.equal(cleanDescription("a\r\nb\u001b[2Kc\u202ed\te"), "a\nb[2Kcd\te");
  });
});

describe("sessions and CSRF", () => {
  test("a CSRF token is valid for its own session only, and for no forgery", () => {
    const sessions = new Sessions();
    const one = sessions.create();
    const two = sessions.create();
    const token = sessions.csrfToken(one);
    assert.ok(sessions.csrfValid(one, token));
    assert.ok(!sessions.csrfValid(two, token));
    assert.ok(!sessions.csrfValid(one, undefined));
    assert.ok(!sessions.csrfValid(one, ""));
    assert.ok(!sessions.csrfValid(one, `${token}x`));
    assert.ok(!sessions.csrfValid(one, token.slice(0, -1)));
    // Another process (another secret) never accepts this one's tokens.
    assert.ok(!new Sessions().csrfValid(one, token));
  });

  test("a session is found by its cookie, ends on logout and after its lifetime", () => {
    let now = 1_000_000;
    const sessions = new Sessions(() => now);
    const id = sessions.create();
    assert.equal(sessions.current(request({ cookie: `other=1; ${SESSION_COOKIE}=${id}; x=y` })), id);
    assert.equal(sessions.current(request({ cookie: `${SESSION_COOKIE}=forged` })), null);
    assert.equal(sessions.current(request({})), null);
    now += SESSION_LIFETIME_MS + 1;
    assert.equal(sessions.current(request({ cookie: `${SESSION_COOKIE}=${id}` })), null);
    const next = sessions.create();
    sessions.end(next);
    assert.equal(sessions.current(request({ cookie: `${SESSION_COOKIE}=${next}` })), null);
  });

  test("a POST from another site or origin is refused; same-origin and header-less clients pass", () => {
    assert.equal(crossSiteProblem(request({ host: "127.0.0.1:8080", origin: "http://127.0.0.1:8080", "sec-fetch-site": "same-origin" })), null);
    assert.equal(crossSiteProblem(request({ host: "hub.example", origin: "https://hub.example" })), null);
    assert.equal(crossSiteProblem(request({ host: "127.0.0.1:8080" })), null);
    assert.match(crossSiteProblem(request({ host: "127.0.0.1:8080", "sec-fetch-site": "cross-site" })) ?? "", /another site/);
    assert.match(crossSiteProblem(request({ host: "127.0.0.1:8080", origin: "http://evil.example" })) ?? "", /another origin/);
    assert.match(crossSiteProblem(request({ host: "127.0.0.1:8080", origin: "null" })) ?? "", /another origin/);
    assert.match(crossSiteProblem(request({ host: "127.0.0.1:8080", origin: "http://127.0.0.1:8081" })) ?? "", /another origin/);
  });
});

describe("registry notifications", () => {
  const digest = `sha256:${"a".repeat(64)}`;
  const push = { id: "1", timestamp: "2026-11-30T20:35:10.461766123Z", action: "push", target: { mediaType: "application/vnd.oci.image.manifest.v1+json", size: 758, digest, length: 758, repository: "team/jokes", url: "http://x", tag: "1" }, request: { method: "PUT" }, actor: { name: "george" }, source: {} };

  test("a manifest push with a tag is kept, with the event's time and user", () => {
    assert.deepEqual(parseEvents(JSON.stringify({ events: [push] })), { events: [{ kind: "push", repository: "team/jokes", tag: "1", digest, mediaType: "application/vnd.oci.image.manifest.v1+json", pushedAt: "2026-11-30T20:35:10.461Z", pushedBy: "george" }], malformed: 0 });
  });

  test("pulls, blob pushes and pushes by digest are ignored; deletes by tag and by digest are kept", () => {
    const events = [
      { ...push, action: "pull" },
      { ...push, target: { ...push.target, mediaType: "application/octet-stream", tag: undefined } },
      { ...push, target: { ...push.target, tag: undefined } },
      { action: "delete", target: { digest, repository: "team/jokes" } },
      { action: "delete", target: { repository: "team/jokes", tag: "latest" } },
    ];
    assert.deepEqual(parseEvents(JSON.stringify({ events }))?.events, [
      { kind: "delete-manifest", repository: "team/jokes", digest },
      { kind: "delete-tag", repository: "team/jokes", tag: "latest" },
    ]);
  });

  test("hostile events are skipped one by one, the rest kept", () => {
    const events = [
      { ...push, target: { ...push.target, repository: "team/<script>" } },
      { ...push, target: { ...push.target, tag: "1; rm -rf /" } },
      { ...push, target: { ...push.target, digest: "sha256:zz" } },
      { ...push, target: null },
      "not an object",
      { ...push, actor: { name: "mal\u001b[2Jlory" }, timestamp: "yesterday" },
    ];
    const parsed = parseEvents(JSON.stringify({ events }));
    assert.equal(parsed?.malformed, 5);
    assert.deepEqual(parsed?.events.map((event) => (event.kind === "push" ? [event.pushedBy, event.pushedAt] : null)), [["mal[2Jlory", null]]);
  });

  test("what is no envelope is refused whole", () => {
    assert.equal(parseEvents("{"), null);
    assert.equal(parseEvents("[]"), null);
    assert.equal(parseEvents('{"events": 1}'), null);
    assert.deepEqual(parseEvents('{"events": []}'), { events: [], malformed: 0 });
  });
});

describe("routes", () => {
  test("pages: repositories with slashes, tags and actions after /-/", () => {
    assert.deepEqual(pageRoute("/"), { name: "home" });
    assert.deepEqual(pageRoute("/r/team/jokes"), { name: "repository", repository: "team/jokes" });
    assert.deepEqual(pageRoute("/r/team/jokes/-/tags/1.0"), { name: "tag", repository: "team/jokes", tag: "1.0" });
    assert.deepEqual(pageRoute("/r/team/jokes/-/tags/1.0/sbom.cdx.json"), { name: "sbom", repository: "team/jokes", tag: "1.0" });
    assert.deepEqual(pageRoute("/r/team/jokes/-/tags/1.0/pylock.toml"), { name: "pylock", repository: "team/jokes", tag: "1.0" });
    assert.deepEqual(pageRoute("/r/team/jokes/-/tags/1.0/delete"), { name: "delete", repository: "team/jokes", tag: "1.0" });
    assert.deepEqual(pageRoute("/r/team/jokes/-/diff"), { name: "diff", repository: "team/jokes" });
    assert.deepEqual(pageRoute("/r/team/jokes/-/description"), { name: "description", repository: "team/jokes" });
  });

  test("pages: names and tags outside the grammar, bad encodings and unknown actions are no route", () => {
    for (const bad of ["/r/", "/r/Team/jokes", "/r/team/%3Cscript%3E", "/r/team%2Fjokes/x%", "/r/team/jokes/-/tags/-x", "/r/team/jokes/-/tags/1/other", "/r/team/jokes/-/nope", "/r/../etc", "/other"]) {
      assert.equal(pageRoute(bad), null, bad);
    }
  });

  test("API: tags and diffs, the /-/ form, and a repository whose name looks like a tag path", () => {
    const none = () => false;
    assert.deepEqual(apiRoute("/api/recent", none), { name: "recent" });
    assert.deepEqual(apiRoute("/api/repositories", none), { name: "repositories" });
    assert.deepEqual(apiRoute("/api/repositories/team/jokes", none), { name: "repository", repository: "team/jokes" });
    assert.deepEqual(apiRoute("/api/repositories/team/jokes/tags/2", none), { name: "tag", repository: "team/jokes", tag: "2" });
    assert.deepEqual(apiRoute("/api/repositories/team/jokes/diff", none), { name: "diff", repository: "team/jokes" });
    assert.deepEqual(apiRoute("/api/repositories/team/jokes/description", none), { name: "description", repository: "team/jokes" });
    assert.deepEqual(apiRoute("/api/repositories/team/tags/x/-/tags/1", none), { name: "tag", repository: "team/tags/x", tag: "1" });
    assert.deepEqual(apiRoute("/api/repositories/team/tags/x", (name) => name === "team/tags/x"), { name: "repository", repository: "team/tags/x" });
    assert.deepEqual(apiRoute("/api/repositories/team/tags/x", none), { name: "tag", repository: "team", tag: "x" });
    assert.equal(apiRoute("/api/repositories/BAD", none), null);
  });
});

describe("request bodies", () => {
  let server: http.Server;
  let port = 0;
  before(async () => {
    server = http.createServer((req, res) => {
      readLimitedBody(req, 1000).then(
        (body) => res.end(`ok ${body.length}`),
        (error: unknown) => {
          res.statusCode = error instanceof TooLarge ? 413 : 500;
          res.end(String(error));
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function post(body: Buffer, chunked: boolean): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, method: "POST", headers: chunked ? { "transfer-encoding": "chunked" } : { "content-length": body.length } }, (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on("error", reject);
      if (chunked) {
        for (let at = 0; at < body.length; at += 300) req.write(body.subarray(at, at + 300));
        req.end();
      } else req.end(body);
    });
  }

  test("a body within the limit is read whole", async () => {
    assert.deepEqual(await post(Buffer.alloc(1000), false), { status: 200, text: "ok 1000" });
    assert.deepEqual(await post(Buffer.alloc(999), true), { status: 200, text: "ok 999" });
  });

  test("a declared or a chunked body past the limit is refused", async () => {
    assert.equal((await post(Buffer.alloc(1001), false)).status, 413);
    assert.equal((await post(Buffer.alloc(5000), true)).status, 413);
  });
});

describe("tokens and access", () => {
  let dir = "";
  before(async () => {
    dir = await makeTempDir("pypakr-unit-hub-");
  });
  after(() => removeDir(dir));

  test("a token file is made 0600 on first start and read back after", async () => {
    const first = await loadToken(dir, "admin-token", "X_TOKEN", {});
    const file = path.join(dir, "admin-token");
    assert.equal(first.file, file);
    assert.match(first.value, /^[A-Za-z0-9_-]{43}$/);
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await loadToken(dir, "admin-token", "X_TOKEN", {}), first);
    assert.deepEqual(await loadToken(dir, "admin-token", "X_TOKEN", { X_TOKEN: "from-the-environment-1234" }), { value: "from-the-environment-1234", file: null });
  });

  test("a short or spaced token is refused with a hint", async () => {
    await assert.rejects(loadToken(dir, "admin-token", "X_TOKEN", { X_TOKEN: "short" }), (error: unknown) => error instanceof PypakrError && error.code === "bad-config" && /X_TOKEN/.test(error.message) && !!error.hint);
    await fs.writeFile(path.join(dir, "events-token"), "has a space in it somewhere\n");
    await assert.rejects(loadToken(dir, "events-token", "Y_TOKEN", {}), /not usable/);
  });

  test("--private: the registry's verdict on a Basic header is asked once a minute", async () => {
    let now = 0;
    const asked: string[] = [];
    const sessions = new Sessions();
    const reads = new PrivateReads("admin-token-0123456789", sessions, (header) => {
      asked.push(header);
      return Promise.resolve(header === "Basic Z2VvcmdlOnB3");
    }, () => now);
    assert.equal(await reads.allows(request({})), false);
    assert.equal(await reads.allows(request({ authorization: "Bearer admin-token-0123456789" })), true);
    assert.equal(await reads.allows(request({ authorization: "Bearer wrong" })), false);
    assert.equal(await reads.allows(request({ authorization: "Basic Z2VvcmdlOnB3" })), true);
    assert.equal(await reads.allows(request({ authorization: "Basic Z2VvcmdlOnB3" })), true);
    assert.equal(await reads.allows(request({ authorization: "Basic d3Jvbmc6cHc=" })), false);
    assert.equal(await reads.allows(request({ authorization: "Basic d3Jvbmc6cHc=" })), false);
    assert.equal(asked.length, 2);
    now += 61_000;
    assert.equal(await reads.allows(request({ authorization: "Basic Z2VvcmdlOnB3" })), true);
    assert.equal(asked.length, 3);
    assert.equal(await reads.allows(request({ authorization: "Basic not base64 !" })), false);
    assert.equal(asked.length, 3);
    const session = sessions.create();
    assert.equal(await reads.allows(request({ cookie: `${SESSION_COOKIE}=${session}` })), true);
  });

  test("failed logins are throttled per address", () => {
    let now = 0;
    const throttle = new LoginThrottle(() => now);
    for (let i = 0; i < 10; i++) throttle.failed("10.0.0.1");
    assert.ok(throttle.blocked("10.0.0.1"));
    assert.ok(!throttle.blocked("10.0.0.2"));
    now += 61_000;
    assert.ok(!throttle.blocked("10.0.0.1"));
  });
});
