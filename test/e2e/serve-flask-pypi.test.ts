/**
 * `pypakr serve` with a Flask app on gunicorn, installed from the real PyPI
 * (not hermetic: needs network access to pypi.org, like the Flask
 * walkthrough's test): its image's setup pip-installs flask and gunicorn, and
 * a cold start through the gateway, in its sandbox, answers.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { pypakr, usePrivateHome } from "../support/helpers.js";
import { Gateway, stopGateways } from "../support/serve-gateway.js";
import { appImage, flaskGunicornApp } from "../support/serve-apps.js";

// Declared first, so it runs before the private home (holding the gateway's container) is removed.
after(stopGateways);
const own = usePrivateHome({ prefix: "pypakr-serve-flask-" });

test("Flask on gunicorn from PyPI (real PyPI): the first request through pypakr serve cold-starts it and gets its answer", { timeout: 600_000 }, async () => {
  const image = await appImage(flaskGunicornApp(), { dir: own.dir, pypakr: (args) => pypakr(args, { home: own.home, timeoutMs: 540_000 }) });
  const gateway = await Gateway.start(["--route", `/=${image.tag}`, "--stop-grace", "1s"], { home: own.home });
  try {
    const answer = await gateway.get("/hello/flask");
    assert.equal(answer.status, 200, `${answer.text}\n--- gateway log\n${gateway.log()}`);
    assert.equal(answer.text, "Hello, World!\n");
    const [app] = await gateway.status();
    assert.equal(app?.coldStarts, 1);
    // gunicorn's own start-up lines reach the gateway's log, prefixed with the app's name.
    assert.match(gateway.log(), /^\[flask-gunicorn\] .*Listening at: http:\/\/127\.0\.0\.1:\d+/m);
  } finally {
    assert.equal((await gateway.stop()).code, 0, gateway.log());
  }
});
