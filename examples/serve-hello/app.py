"""A small web app for `pypakr serve`: the standard library only, so the image builds offline.

It follows the serve contract (docs/SERVE.md): it listens on $PORT, and on SIGTERM it stops
accepting and exits (a real app would also let requests in flight finish: gunicorn and uvicorn do).
"""
import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without this, each answer waits 40 ms on Nagle's algorithm and the client's delayed ACK.
    disable_nagle_algorithm = True

    def do_GET(self):
        body = json.dumps({
            "hello": os.environ.get("GREETING", "world"),
            "path": self.path,
            "pid": os.getpid(),
            "forwarded_for": self.headers.get("X-Forwarded-For"),
        }).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # the gateway logs every request itself


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


server = Server(("127.0.0.1", int(os.environ.get("PORT", "8080"))), Hello)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print(f"listening on port {server.server_address[1]}", flush=True)
server.serve_forever()
server.server_close()
