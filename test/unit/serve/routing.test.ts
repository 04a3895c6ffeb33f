/** Which app a request goes to (Host first, then the longest prefix), the path an app sees with strip-prefix, and the counters behind /_pypakr/status and /_pypakr/metrics. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AppPool, type AppContext } from "../../../src/serve/app.js";
import { Router, stripPrefix } from "../../../src/serve/router.js";
import { AppStats, DURATION_BUCKETS } from "../../../src/serve/stats.js";
import { metricsText } from "../../../src/serve/status.js";
import type { AppSettings } from "../../../src/serve/types.js";

function app(name: string, route: { path?: string; host?: string }): { settings: AppSettings } {
  return {
    settings: { name, image: `${name}.tar`, ...route, stripPrefix: false, env: {}, concurrency: 80, minInstances: 0, maxInstances: 4, idleTimeoutMs: 60_000, startTimeoutMs: 30_000, stopGraceMs: 10_000, queueLimit: 100, network: false },
  };
}

describe("Router", () => {
  const router = new Router([app("root", { path: "/" }), app("hello", { path: "/hello" }), app("deep", { path: "/hello/deep" }), app("api", { host: "api.example.test" }), app("api-v2", { host: "api.example.test", path: "/v2" })]);
  const to = (host: string | undefined, path: string) => router.match(host, path)?.settings.name ?? null;

  test("the longest prefix wins, and a prefix matches only whole path segments", () => {
    assert.equal(to("localhost:8080", "/hello"), "hello");
    assert.equal(to("localhost:8080", "/hello/"), "hello");
    assert.equal(to("localhost:8080", "/hello/x"), "hello");
    assert.equal(to("localhost:8080", "/hello/deep/x"), "deep");
    assert.equal(to("localhost:8080", "/helloworld"), "root");
    assert.equal(to("localhost:8080", "/"), "root");
  });

  test("an app with a Host takes its requests first, whatever the port or case of the header; within a host the prefix decides", () => {
    assert.equal(to("api.example.test", "/hello"), "api");
    assert.equal(to("API.Example.TEST:8443", "/x"), "api");
    assert.equal(to("api.example.test", "/v2/items"), "api-v2");
    assert.equal(to("other.example.test", "/v2/items"), "root");
    assert.equal(to(undefined, "/hello"), "hello");
  });

  test("without a catch-all route, a path no prefix covers matches nothing", () => {
    const only = new Router([app("hello", { path: "/hello" })]);
    assert.equal(only.match("localhost", "/other"), null);
    assert.equal(only.match("localhost", "/hell"), null);
  });
});

describe("stripPrefix", () => {
  test("the app sees the path below its prefix, always starting with /, query kept", () => {
    assert.equal(stripPrefix("/hello/x?y=1", "/hello"), "/x?y=1");
    assert.equal(stripPrefix("/hello", "/hello"), "/");
    assert.equal(stripPrefix("/hello?y=1", "/hello"), "/?y=1");
    assert.equal(stripPrefix("/anything", "/"), "/anything");
  });
});

describe("AppStats", () => {
  test("p50 and p95 come from the recorded latencies; none before the first request", () => {
    const stats = new AppStats();
    assert.deepEqual(stats.latency(), { p50: null, p95: null });
    for (let ms = 1; ms <= 100; ms++) stats.record(200, ms);
    assert.deepEqual(stats.latency(), { p50: 50, p95: 95 });
    assert.equal(stats.requests, 100);
    assert.equal(stats.byStatusClass.get("2xx"), 100);
  });

  test("the window keeps the latest 2,048 latencies only, so the percentiles follow the current load", () => {
    const stats = new AppStats();
    for (let i = 0; i < 2048; i++) stats.record(200, 1000);
    for (let i = 0; i < 2048; i++) stats.record(502, 2);
    assert.deepEqual(stats.latency(), { p50: 2, p95: 2 });
    assert.equal(stats.byStatusClass.get("5xx"), 2048);
  });

  test("the histogram's buckets are cumulative, as Prometheus reads them", () => {
    const stats = new AppStats();
    stats.record(200, 3); // 0.003 s: in every bucket
    stats.record(200, 700); // 0.7 s: from the 1 s bucket on
    const at = (bound: number) => stats.bucketCounts[DURATION_BUCKETS.indexOf(bound)];
    assert.equal(at(0.005), 1);
    assert.equal(at(0.5), 1);
    assert.equal(at(1), 2);
    assert.equal(at(10), 2);
    assert.equal(stats.durationSum, 0.703);
  });
});

describe("metricsText", () => {
  test("Prometheus' text format: a HELP and TYPE per family, samples with labels, a +Inf bucket equal to the count", () => {
    const pool = new AppPool(app("hello", { path: "/hello" }).settings, `sha256:${"a".repeat(64)}`, {} as AppContext);
    pool.stats.record(200, 4);
    pool.stats.record(503, 40);
    const text = metricsText([pool]);
    const lines = text.trimEnd().split("\n");
    for (const line of lines) assert.match(line, /^(# (HELP|TYPE) pypakr_serve_[a-z_]+ .+|pypakr_serve_[a-z_]+\{app="hello"(,[a-z]+="[^"]*")*\} [0-9.e+-]+)$/, line);
    assert.ok(lines.includes('pypakr_serve_requests_total{app="hello",code="2xx"} 1'));
    assert.ok(lines.includes('pypakr_serve_requests_total{app="hello",code="5xx"} 1'));
    assert.ok(lines.includes('pypakr_serve_request_duration_seconds_bucket{app="hello",le="+Inf"} 2'));
    assert.ok(lines.includes('pypakr_serve_request_duration_seconds_count{app="hello"} 2'));
    assert.ok(lines.includes('pypakr_serve_request_duration_seconds_bucket{app="hello",le="0.005"} 1'));
    assert.ok(lines.includes("# TYPE pypakr_serve_request_duration_seconds histogram"));
  });
});
