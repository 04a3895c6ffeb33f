/**
 * Property-based tests of what pypakr parses from users and registries:
 * WWW-Authenticate headers (src/registry/auth.ts), registry references
 * (src/registry/reference.ts) and the URLs a registry sends pypakr to
 * (src/registry/http.ts), with fast-check, bounded in runs and time.
 * FUZZ_SEED=<n> replays a seed; FUZZ_SCALE=<k> runs k times as many cases.
 */
import assert from "node:assert/strict";
import { isIP } from "node:net";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseChallenges } from "../../../src/registry/auth.js";
import { Transport } from "../../../src/registry/http.js";
import { formatReference, isLoopback, parseReference, registryHost, type Reference } from "../../../src/registry/reference.js";
import { PypakrError, USAGE_EXIT_CODE } from "../../../src/util/errors.js";
import { bounded } from "../../support/fuzz.js";

describe("fuzz: WWW-Authenticate", () => {
  const headerish = fc.string({ unit: fc.constantFrom("Bearer", "Basic", " ", ",", "=", '"', "\\", "realm", "a", "\t", "é", "\0"), maxLength: 30 });

  test("parseChallenges never throws and always ends, whatever the header", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary" }), headerish), (header) => {
        const challenges = parseChallenges(header);
        for (const challenge of challenges) {
          assert.match(challenge.scheme, /^[!#$%&'*+.^_`|~0-9a-z-]+$/);
          assert.equal(Object.getPrototypeOf(challenge.params), Object.prototype);
          for (const value of Object.values(challenge.params)) assert.equal(typeof value, "string");
        }
      }),
      bounded(5000, 2000, [['Bearer realm="unterminated'], ["Basic realm=\\"], ["=,=,"], ['Bearer __proto__="x"']]),
    );
  });

  const token = fc.string({ unit: fc.constantFrom("a", "B", "z", "0", "-", "_", ".", "!", "~"), minLength: 1, maxLength: 6 });
  const quoted = fc.string({ unit: fc.constantFrom("a", " ", ",", "=", '"', "\\", "/", ":", "é"), maxLength: 12 });
  const challenge = fc.record({ scheme: token, params: fc.array(fc.tuple(token, quoted), { maxLength: 3 }) });

  test("challenges written out by the RFC 9110 grammar parse back (schemes and names lowercased, the last duplicate wins)", () => {
    fc.assert(
      fc.property(fc.array(challenge, { minLength: 1, maxLength: 3 }), fc.constantFrom(", ", ",", " , "), (challenges, separator) => {
        const header = challenges
          .map(({ scheme, params }) => [scheme, params.map(([name, value]) => `${name}="${value.replace(/[\\"]/g, (char) => `\\${char}`)}"`).join(separator)].filter(Boolean).join(" "))
          .join(separator);
        const expected = challenges.map(({ scheme, params }) => ({ scheme: scheme.toLowerCase(), params: Object.fromEntries(params.map(([name, value]) => [name.toLowerCase(), value])) }));
        assert.deepEqual(
          parseChallenges(header).map((c) => ({ ...c, params: { ...c.params } })),
          expected,
          header,
        );
      }),
      bounded(3000, 2000),
    );
  });
});

describe("fuzz: registry references", () => {
  const hostish = fc.oneof(
    fc.constantFrom("localhost", "localhost:5000", "127.0.0.1:5000", "[::1]:5000", "[:::::]", "127.999.1.1", "registry.example.com", "REG.example.com", "a-b.c", "-a.b", "a.b:99999", "a.b:", "0x7f.1", "1.2.3.4.5", "https:", "[::1", "Localhost"),
    fc.string({ unit: fc.constantFrom("a", "1", ".", ":", "-", "[", "]", "f", "9"), minLength: 1, maxLength: 12 }),
  );
  const repoish = fc.oneof(
    fc.constantFrom("app", "team/app", "a__b", "a--b", "a.b", "A", "a//b", "", "a/", "_a"),
    fc.string({ unit: fc.constantFrom("a", "/", ".", "_", "-", "Z", "0"), maxLength: 10 }),
  );
  const suffix = fc.oneof(
    fc.constant(""),
    fc.constantFrom(":1.0", ":latest", ":", ":-x", ":a".padEnd(130, "a"), "@sha256:" + "a".repeat(64), ":1@sha256:" + "b".repeat(64), "@sha256:../x", "@sha256:" + "A".repeat(64)),
    fc.string({ unit: fc.constantFrom(":", "@", "a", ".", "-", "s", "h", "2", "5", "6"), maxLength: 12 }),
  );
  const referenceText = fc.oneof(
    fc.tuple(hostish, repoish, suffix).map(([host, repo, rest]) => `${host}/${repo}${rest}`),
    fc.string({ unit: "binary", maxLength: 30 }),
  );

  function wellFormed(ref: Reference): void {
    assert.equal(ref.registry, registryHost(ref.registry), "the registry is its own normal form");
    const url = new URL(`https://${ref.registry}/`);
    assert.ok(url.host.length > 0);
    assert.ok(ref.repository.length > 0 && ref.repository.length <= 255);
    for (const part of ref.repository.split("/")) assert.match(part, /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/);
    if (ref.tag !== undefined) assert.match(ref.tag, /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/);
    if (ref.digest !== undefined) assert.match(ref.digest, /^sha256:[a-f0-9]{64}$/);
    assert.ok(ref.tag !== undefined || ref.digest !== undefined);
  }

  test("parseReference gives a well-formed reference that formats and parses back to itself, or a usage error", () => {
    fc.assert(
      fc.property(referenceText, (text) => {
        let ref: Reference;
        try {
          ref = parseReference(text);
        } catch (error) {
          assert.ok(error instanceof PypakrError, `parseReference(${JSON.stringify(text)}) threw ${String(error)}`);
          assert.equal(error.exitCode, USAGE_EXIT_CODE);
          return;
        }
        wellFormed(ref);
        assert.deepEqual(parseReference(formatReference(ref)), ref);
      }),
      bounded(5000, 2500, [
        // Found: the host grammar let through hosts no URL can name; the transport then threw a TypeError (reported as a bug in pypakr).
        ["[:::::]/app"],
        ["127.999.1.1/app"],
        ["1.2.3.4.5/app:1"],
      ]),
    );
  });

  test("isLoopback holds only for localhost and real loopback addresses", () => {
    const host = fc.oneof(
      fc.constantFrom("localhost", "localhost:5000", "[::1]", "[::1]:5000", "127.0.0.1", "127.255.255.255:1", "127.999.1.1", "127.0.0.1.example.com", "localhost.example.com", "[::2]"),
      fc.tuple(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 999 }), fc.option(fc.integer({ min: 0, max: 65535 }))).map(([a, b, c, port]) => `127.${a}.${b}.${c}${port === null ? "" : `:${port}`}`),
      fc.string({ maxLength: 20 }),
    );
    fc.assert(
      fc.property(host, (registry) => {
        if (!isLoopback(registry)) return;
        const name = registry.startsWith("[") ? registry.slice(1, registry.indexOf("]")) : registry.replace(/:[0-9]+$/, "");
        assert.ok(name === "localhost" || name === "::1" || (isIP(name) === 4 && name.startsWith("127.")), `${registry} was taken for loopback`);
      }),
      bounded(3000, 1000, [["127.999.1.1"]]),
    );
  });
});

/**
 * Transport.checkUrl is the one gate every URL pypakr follows passes (upload
 * Locations, redirects, token realms), and Transport.isRegistryOrigin the one
 * gate for credentials: checked here against an oracle written independently,
 * on addresses in the spellings a hostile Location can use (short and hex
 * IPv4, percent-escapes, userinfo, look-alike names, other schemes).
 */
describe("fuzz: where requests and credentials may go", () => {
  const scheme = fc.constantFrom("http", "https", "HTTP", "file", "ftp", "data", "javascript", "ws", "gopher");
  const host = fc.constantFrom(
    "127.0.0.1", "127.0.0.2:5000", "127.1", "0x7f.1", "2130706433", "%31%32%37.0.0.1", "0.0.0.0", "0", "10.1.2.3", "[::1]", "[::]", "[::ffff:127.0.0.1]",
    "localhost", "LOCALHOST:80", "localhost.", "localhost.evil.test", "127.0.0.1.evil.test", "reg.example.com", "reg.example.com:443", "user:pw@127.0.0.1", "127.0.0.1@evil.test",
  );
  const rest = fc.constantFrom("/", "/upload/x?_state=abc", "/v2/team/app/blobs/sha256:00", "", "/..%2f..%2fetc", "?x=1#f");
  const location = fc.oneof(
    fc.tuple(scheme, host, rest).map(([s, h, r]) => `${s}://${h}${r}`),
    fc.tuple(scheme, rest).map(([s, r]) => `${s}:${r}`),
    rest,
    fc.string({ maxLength: 40 }),
  );
  const base = fc.constantFrom("127.0.0.1:5000", "reg.example.com", "[::1]:5000", "localhost");
  const loopbackHost = (hostname: string) => hostname === "localhost" || hostname === "[::1]" || (isIP(hostname) === 4 && hostname.startsWith("127."));

  test("checkUrl passes exactly https, and http to loopback (or anything http(s) with --insecure); isRegistryOrigin exactly the same scheme, host and port", async () => {
    const transports = new Map<string, Transport>();
    const transport = (registry: string, insecure: boolean) => {
      const key = `${registry} ${insecure}`;
      if (!transports.has(key)) transports.set(key, new Transport(registry, { insecure }));
      return transports.get(key) as Transport;
    };
    try {
      fc.assert(
        fc.property(base, fc.boolean(), location, (registry, insecure, text) => {
          const subject = transport(registry, insecure);
          let url: URL;
          try {
            url = new URL(text, subject.baseUrl);
          } catch {
            return; // no URL, nothing to follow (push and the redirect loop turn this into their own error)
          }
          const allowed = url.protocol === "https:" || (url.protocol === "http:" && (insecure || loopbackHost(url.hostname)));
          let passed = true;
          try {
            subject.checkUrl(url, "sends pypakr to");
          } catch (error) {
            assert.ok(error instanceof PypakrError, `not a PypakrError for ${text}: ${String(error)}`);
            passed = false;
          }
          assert.equal(passed, allowed, `${text} -> ${url.href}`);
          const same = url.protocol === subject.baseUrl.protocol && url.hostname === subject.baseUrl.hostname && (url.port || "default") === (subject.baseUrl.port || "default");
          assert.equal(subject.isRegistryOrigin(url), same, `${text} -> ${url.href}`);
        }),
        bounded(4000, 2000, [["127.0.0.1:5000", false, "http://0.0.0.0:5000/upload/x"], ["reg.example.com", false, "http://reg.example.com/v2/"], ["127.0.0.1:5000", true, "file:///etc/passwd"]]),
      );
    } finally {
      await Promise.all([...transports.values()].map((each) => each.close()));
    }
  });
});
