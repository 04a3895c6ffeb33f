/**
 * Apps for `pypakr serve`, shared by the e2e tests and the benchmark: each
 * builder writes an app SOURCE (a directory with an executable `run` that
 * serves HTTP on $PORT, as the serve contract asks) and `appImage` builds it
 * into an image with `pypakr create-image`, once per test process.
 *
 * Every stdlib server binds 127.0.0.1: inside a sandbox without network that
 * is the namespace's own loopback (the gateway reaches it through the Unix
 * socket bridge); with the network shared it is the host's.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { makeWheel, writeExecutable, type CliResult } from "./helpers.js";

/** An app: its name (also its image's tag name) and how to write its source into an empty directory. */
export interface AppSpec {
  name: string;
  write(dir: string): Promise<void>;
}

export interface AppImage {
  name: string;
  /** The image file. */
  image: string;
  /** NAME:1, stored in the home the image was built with. */
  tag: string;
  source: string;
}

/** Where images go and how pypakr is run (the tests' `pypakr` with a home, or the benchmark's own CLI and environment). */
export interface ImageMaker {
  dir: string;
  pypakr(args: string[]): Promise<CliResult>;
}

/**
 * The server every stdlib app shares (pasted into each app's Python file):
 * - ThreadingHTTPServer (or plain HTTPServer for one request at a time);
 * - disable_nagle_algorithm: without it every response stalls 40 ms (Nagle + delayed ACK);
 * - request_queue_size 128: socketserver's default listen backlog of 5 drops bursts of connections;
 * - SIGTERM drains: prints "draining", stops accepting, lets in-flight requests finish, closes idle
 *   keep-alive connections (their threads would otherwise wait for a next request forever), exits 0.
 * The per-request log is off: it would flood the gateway's log under load.
 */
const SERVER_PY = String.raw`
import os, signal, socket, sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer

_LOCK = threading.Lock()
_IDLE = set()
_DRAINING = threading.Event()


class AppHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    # A one-thread server must not keep a connection open between requests: it would serve no other meanwhile.
    close_each = False

    def log_message(self, format, *args):
        pass

    def handle(self):
        self.close_connection = False
        while not self.close_connection:
            # Idle between requests: a drain may close the connection's read side now.
            with _LOCK:
                if _DRAINING.is_set():
                    break
                _IDLE.add(self.connection)
            self.handle_one_request()
        with _LOCK:
            _IDLE.discard(self.connection)

    def parse_request(self):
        with _LOCK:
            _IDLE.discard(self.connection)
        return super().parse_request()

    def reply(self, status, body, content_type="text/plain; charset=utf-8"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if self.close_each:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


def serve(handler, threaded=True, banner=""):
    base = ThreadingHTTPServer if threaded else HTTPServer

    class Server(base):
        request_queue_size = 128
        daemon_threads = False
        allow_reuse_address = True

    port = int(os.environ.get("PORT", "8080"))
    server = Server(("127.0.0.1", port), handler)

    def drain():
        # Idle connections first: a plain HTTPServer's one thread may be waiting on one, and
        # server.shutdown() waits for that thread.
        with _LOCK:
            _DRAINING.set()
            for connection in _IDLE:
                try:
                    connection.shutdown(socket.SHUT_RD)
                except OSError:
                    pass
        server.shutdown()

    def on_sigterm(signum, frame):
        print("draining", flush=True)
        threading.Thread(target=drain).start()

    signal.signal(signal.SIGTERM, on_sigterm)
    print(f"{banner} listening on 127.0.0.1:{port} pid {os.getpid()}", flush=True)
    server.serve_forever()
    server.server_close()  # joins the request threads: in-flight requests finish
    sys.exit(0)
`;

/** hello_app: its routes go by the path's last segment, so the app answers the same under any route prefix. */
const HELLO_PY = String.raw`
import json, os, sys, time
from urllib.parse import parse_qs, urlsplit

NAME = os.environ.get("APP_NAME", "@NAME@")


class Hello(AppHandler):
    def do_GET(self):
        url = urlsplit(self.path)
        last = url.path.rstrip("/").rsplit("/", 1)[-1]
        if last == "echo":
            info = {"app": NAME, "pid": os.getpid(), "method": self.command, "path": self.path, "headers": dict(self.headers.items())}
            self.reply(200, json.dumps(info), "application/json")
        elif last == "slow":
            ms = int(parse_qs(url.query).get("ms", ["1000"])[0])
            time.sleep(ms / 1000)
            self.reply(200, f"slept {ms} ms\n")
        elif last == "ws" and self.headers.get("Upgrade", "").lower() == "websocket":
            # A stand-in for a WebSocket (no handshake key, no frames): 101, then every byte back until the client closes.
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            while True:
                data = self.rfile.read1(65536)
                if not data:
                    break
                self.wfile.write(data)
            self.close_connection = True
        elif last == "crash":
            print("crashing on purpose", flush=True)
            os._exit(3)
        else:
            self.reply(200, f"hello from {NAME} pid {os.getpid()}\n")

    def do_POST(self):
        # Echoes the body as it arrives: chunk by chunk when it comes chunked, else by Content-Length.
        self.send_response(200)
        self.send_header("Content-Type", self.headers.get("Content-Type", "application/octet-stream"))
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    self.wfile.write(b"0\r\n\r\n")
                    break
                chunk = self.rfile.read(size)
                self.rfile.readline()
                self.wfile.write(b"%x\r\n%s\r\n" % (size, chunk))
                self.wfile.flush()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            self.send_header("Content-Length", str(left))
            self.end_headers()
            while left > 0:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
                self.wfile.write(chunk)

    do_PUT = do_POST


serve(Hello, banner=f"hello_app {NAME}")
`;

function helloModule(name: string): string {
  return SERVER_PY + HELLO_PY.replace("@NAME@", name);
}

/**
 * `hello`: a threading http.server app whose code comes from a local wheel
 * (module hello_app; `run` = `exec python -m hello_app`), installed offline by
 * setup. GET answers "hello from NAME pid N"; .../echo answers the method,
 * path and headers (X-Forwarded-* among them) as JSON, and a POST to it
 * streams the body back; .../slow?ms=N sleeps; .../ws with "Upgrade: websocket"
 * answers 101 and echoes the raw bytes that follow; .../crash exits at once
 * (code 3). `variant` changes an app file only, so each variant has an image
 * digest of its own (a first start of a new digest).
 */
export function helloApp(options: { name?: string; variant?: string } = {}): AppSpec {
  const name = options.name ?? "hello";
  return {
    name: options.variant === undefined ? name : `${name}-${options.variant}`,
    async write(dir) {
      makeWheel(path.join(dir, "wheels"), { name: "hello-app", files: { "hello_app/__init__.py": "", "hello_app/__main__.py": helloModule(name) } });
      await writeExecutable(path.join(dir, "setup"), "#!/bin/sh\nset -e\nexec pip install --no-index --find-links wheels hello-app\n");
      await writeExecutable(path.join(dir, "run"), "#!/bin/sh\nexec python -m hello_app\n");
      if (options.variant !== undefined) await fs.writeFile(path.join(dir, "variant.txt"), `${options.variant}\n`);
    },
  };
}

/** `never-ready`: says so on stderr, then sleeps without ever listening (the start timeout's case). */
export function neverReadyApp(): AppSpec {
  return {
    name: "never-ready",
    async write(dir) {
      await fs.writeFile(path.join(dir, "app.py"), 'import sys, time\nprint("never-ready: not listening, on purpose", file=sys.stderr, flush=True)\nwhile True:\n    time.sleep(3600)\n');
      await writeExecutable(path.join(dir, "run"), "#!/bin/sh\nexec python app.py\n");
    },
  };
}

/**
 * `single`: a plain (not threading) HTTPServer, one request at a time, for concurrency 1; it closes each
 * connection after its answer (a kept-alive idle one would block every other). GET .../slow?ms=N sleeps;
 * any other GET answers "single pid N".
 */
export function singleApp(): AppSpec {
  const handler = String.raw`
import os, time
from urllib.parse import parse_qs, urlsplit


class Single(AppHandler):
    close_each = True

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path.rstrip("/").endswith("/slow"):
            ms = int(parse_qs(url.query).get("ms", ["1000"])[0])
            time.sleep(ms / 1000)
            self.reply(200, f"slept {ms} ms pid {os.getpid()}\n")
        else:
            self.reply(200, f"single pid {os.getpid()}\n")


serve(Single, threaded=False, banner="single")
`;
  return {
    name: "single",
    async write(dir) {
      await fs.writeFile(path.join(dir, "app.py"), SERVER_PY + handler);
      await writeExecutable(path.join(dir, "run"), "#!/bin/sh\nexec python app.py\n");
    },
  };
}

export type Attack = "read-outside" | "write-container" | "connect-out" | "fork-bomb" | "allocate";

/**
 * The hostile apps' one module: `python hostile.py ATTACK` serves HTTP, and
 * each GET does the attack and answers JSON of what happened, so a test can
 * tell "refused by the sandbox" (an errno name) from "got through". The
 * unbounded attacks stop at a cap (FORK_CAP processes, ALLOC_CAP_MB) so that
 * a sandbox that fails to limit them fails the test instead of the machine.
 */
const HOSTILE_PY = String.raw`
import errno, json, os, select, socket, sys, sysconfig, time

ATTACK = sys.argv[1]


def failure(error):
    return errno.errorcode.get(error.errno, str(error)) if isinstance(error, OSError) and error.errno else type(error).__name__


def read_outside():
    """Each path: "listed N entries" / "read N bytes" when reachable, else the errno (ENOENT, EACCES)."""
    paths = ["/root/.pypakr", "/root", "/work", "/home", "/etc/shadow"]
    paths += [p for p in os.environ.get("SECRET_PATHS", "").split(":") if p]
    results = {}
    for p in paths:
        try:
            if os.path.isdir(p):
                results[p] = f"listed {len(os.listdir(p))} entries"
            else:
                with open(p, "rb") as f:
                    results[p] = f"read {len(f.read())} bytes"
        except OSError as error:
            results[p] = failure(error)
    return {"results": results}


def write_container():
    """Writes into the container (sys.prefix, site-packages, the app's directory) and /tmp: "wrote" or the errno."""
    targets = [os.path.join(sys.prefix, "pwned"), os.path.join(sysconfig.get_paths()["purelib"], "pwned.py"), os.path.join(os.getcwd(), "pwned"), "/tmp/allowed"]
    results = {}
    for target in targets:
        try:
            with open(target, "w") as f:
                f.write("written by a hostile app\n")
            results[target] = "wrote"
        except OSError as error:
            results[target] = failure(error)
    return {"prefix": sys.prefix, "results": results}


def connect_out():
    """Connects to each HOST:PORT of TARGETS (comma-separated): "connected" or the errno / "timeout"."""
    results = {}
    for target in [t for t in os.environ.get("TARGETS", "").split(",") if t]:
        host, _, port = target.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=3).close()
            results[target] = "connected"
        except socket.timeout:
            results[target] = "timeout"
        except OSError as error:
            results[target] = failure(error)
    return {"results": results}


def fork_bomb():
    """In a child (so this server can still answer): forks children that wait, until fork fails or FORK_CAP."""
    cap = int(os.environ.get("FORK_CAP", "1000"))
    report_r, report_w = os.pipe()
    bomber = os.fork()
    if bomber == 0:
        os.close(report_r)
        hold_r, hold_w = os.pipe()
        count, error = 0, None
        try:
            while count < cap:
                if os.fork() == 0:
                    os.close(hold_w)
                    os.close(report_w)
                    os.read(hold_r, 1)  # until the bomber closes hold_w
                    os._exit(0)
                count += 1
        except OSError as e:
            error = failure(e)
        os.write(report_w, json.dumps({"forked": count, "error": error}).encode())
        os._exit(0)  # closes hold_w: the waiting children exit
    os.close(report_w)
    data, deadline = b"", time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([report_r], [], [], max(0, deadline - time.monotonic()))
        chunk = os.read(report_r, 65536) if ready else b""
        if not chunk:
            break
        data += chunk
    os.close(report_r)
    os.waitpid(bomber, 0)
    return json.loads(data) if data else {"forked": None, "error": "the forking child said nothing (killed?)"}


def allocate():
    """Allocates (and touches) 16 MiB at a time until MemoryError or ALLOC_CAP_MB; an OOM kill ends the app instead."""
    cap = int(os.environ.get("ALLOC_CAP_MB", "2048"))
    chunks, error = [], None
    try:
        while len(chunks) * 16 < cap:
            chunks.append(b"x" * (16 << 20))
    except MemoryError:
        error = "MemoryError"
    allocated = len(chunks) * 16
    chunks.clear()
    return {"allocatedMB": allocated, "error": error}


ATTACKS = {"read-outside": read_outside, "write-container": write_container, "connect-out": connect_out, "fork-bomb": fork_bomb, "allocate": allocate}


class Hostile(AppHandler):
    def do_GET(self):
        result = {"attack": ATTACK, **ATTACKS[ATTACK]()}
        self.reply(200, json.dumps(result), "application/json")


serve(Hostile, banner=f"hostile {ATTACK}")
`;

/**
 * A hostile app: an HTTP server whose GET does `attack` and answers what happened (see HOSTILE_PY).
 * Without `attack`, one image does them all: the app's ATTACK variable names it (an env setting per app
 * in the gateway's config), so a test routing every attack builds one image instead of five.
 */
export function hostileApp(attack?: Attack): AppSpec {
  return {
    name: attack === undefined ? "hostile" : `hostile-${attack}`,
    async write(dir) {
      await fs.writeFile(path.join(dir, "hostile.py"), SERVER_PY + HOSTILE_PY);
      await writeExecutable(path.join(dir, "run"), `#!/bin/sh\nexec python hostile.py ${attack ?? '"$ATTACK"'}\n`);
    },
  };
}

const FLASK_APP_PY = `from flask import Flask

app = Flask(__name__)


@app.route("/")
@app.route("/<path:rest>")
def hello(rest=""):
    return "Hello, World!\\n"
`;

/**
 * Flask on gunicorn (one sync worker). From PyPI (requirements.txt: flask,
 * gunicorn), or offline from `findLinks`, a directory holding their wheels.
 */
export function flaskGunicornApp(options: { findLinks?: string } = {}): AppSpec {
  return {
    name: "flask-gunicorn",
    async write(dir) {
      await fs.writeFile(path.join(dir, "app.py"), FLASK_APP_PY);
      // --no-control-socket: gunicorn 26 would otherwise make ~/.gunicorn/gunicorn.ctl, one path for every instance.
      await writeExecutable(path.join(dir, "run"), '#!/bin/sh\nexec gunicorn --no-control-socket -b "127.0.0.1:$PORT" -w 1 app:app\n');
      if (options.findLinks === undefined) await fs.writeFile(path.join(dir, "requirements.txt"), "flask\ngunicorn>=26\n");
      else await writeExecutable(path.join(dir, "setup"), `#!/bin/sh\nset -e\nexec pip install --no-index --find-links '${options.findLinks}' flask gunicorn\n`);
    },
  };
}

/** Writes the app's source into a fresh `dir` (replacing what was there). */
export async function writeAppSource(app: AppSpec, dir: string): Promise<string> {
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  await app.write(dir);
  return dir;
}

const built = new Map<string, Promise<AppImage>>();

/** Builds the app's image into maker.dir (tagged NAME:1 in the maker's home), once per process for each dir and app name. */
export function appImage(app: AppSpec, maker: ImageMaker): Promise<AppImage> {
  const key = `${maker.dir}\0${app.name}`;
  let image = built.get(key);
  if (!image) {
    image = buildImage(app, maker);
    built.set(key, image);
    // A failed build is not cached: the next caller sees its own error.
    image.catch(() => built.delete(key));
  }
  return image;
}

async function buildImage(app: AppSpec, maker: ImageMaker): Promise<AppImage> {
  const source = await writeAppSource(app, path.join(maker.dir, `${app.name}-src`));
  const image = path.join(maker.dir, `${app.name}.tar`);
  const tag = `${app.name}:1`;
  const result = await maker.pypakr(["create-image", "-q", "-s", source, "-i", image, "-t", tag]);
  if (result.code !== 0) throw new Error(`create-image of ${app.name} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return { name: app.name, image, tag, source };
}
