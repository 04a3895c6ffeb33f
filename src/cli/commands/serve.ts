import { defineCommand } from "../command.js";
import { environment, flag, registryOptions, repeatable, text } from "../options.js";

/**
 * The defaults named here are the schema's (src/serve/config/schema.ts, which
 * this file does not import so that other commands start without it); the
 * serve-config e2e test holds the two together.
 */
export const serve = defineCommand("serve", "run a gateway that routes HTTP requests to apps from images, starting them on demand, each in a sandbox, and stopping them when idle", {
  ownsSignals: true,
  options: {
    config: text("--config <FILE>", "read every setting from this TOML or YAML file (.toml, .yaml, .yml); excludes the flags below but --insecure and --ca-file"),
    route: repeatable("--route <[HOST]/PREFIX=IMAGE>", "serve IMAGE (file, tag, digest, or registry reference, pulled when missing) for requests under /PREFIX (\"/\" for all), and with HOST only for that Host; repeatable, one app each"),
    listen: text("--listen <HOST:PORT>", "address to listen on, IPv6 as [::1]:8080 (default: 127.0.0.1:8080)"),
    maxBody: text("--max-body <SIZE>", "largest request body, e.g. 10MiB, 512K, 1G or bytes (default: 10MiB)"),
    headerTimeout: text("--header-timeout <DURATION>", "time to receive a request's headers, e.g. 500ms, 10s, 2m or seconds (default: 10s)"),
    requestTimeout: text("--request-timeout <DURATION>", "time for a whole request (default: 300s)"),
    drainTimeout: text("--drain-timeout <DURATION>", "on SIGTERM, time for in-flight requests to finish (default: 30s)"),
    stripPrefix: flag("--strip-prefix", "send the app the path without its route's prefix (default: the full path)"),
    env: environment("-e, --env <NAME=VALUE>", "environment variable for every --route app (repeatable; not PORT, which the gateway sets)"),
    concurrency: text("--concurrency <N>", "requests one instance serves at once; 1 for apps that serve one at a time (default: 80)"),
    minInstances: text("--min-instances <N>", "instances kept running when idle (default: 0)"),
    maxInstances: text("--max-instances <N>", "most instances of an app at once (default: 4)"),
    idleTimeout: text("--idle-timeout <DURATION>", "stop an instance idle this long (default: 60s)"),
    startTimeout: text("--start-timeout <DURATION>", "time an instance has to accept connections (default: 30s)"),
    stopGrace: text("--stop-grace <DURATION>", "time between SIGTERM and SIGKILL when an instance stops (default: 10s)"),
    queueLimit: text("--queue-limit <N>", "requests that may wait for an instance; beyond, 503 with Retry-After (default: 100)"),
    healthPath: text("--health-path <PATH>", "the app is ready when GET PATH answers below 500 (default: any answer on /)"),
    memory: text("--memory <SIZE>", "memory limit of each instance, or none (default: 512MiB)"),
    maxProcesses: text("--max-processes <N>", "process limit of each instance, or none (default: 256)"),
    network: flag("--network", "let the apps connect out (default: no network but their own port)"),
    ...registryOptions(),
  },
  async run(options, _args, { config }) {
    const { serveSettings, startGateway } = await import("../../serve/index.js");
    return startGateway(config, await serveSettings(options));
  },
});
