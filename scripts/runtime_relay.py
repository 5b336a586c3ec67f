#!/usr/bin/env python3
"""Runs one function binary with its Lambda runtime API calls relayed to `cargo lambda watch`,
each on a fresh connection marked `Connection: close`. scripts/lib.sh (start_api) makes this
cargo's target runner, so `cargo lambda watch` starts `runtime_relay.py target/debug/<fn>`.

Why: cargo lambda watch (1.9.2; 1.8.6, 1.6.3 and 1.0.3 have the same handler) answers a function's
`POST .../invocation/<id>/response` with 200 before it has read that request's body, and hands
the body to the task that answers the HTTP client. If the rest of the body arrives after that
200 on a keep-alive connection, its HTTP server (hyper 1.x) puts the connection back to idle
without ending the body it handed over: the client's answer then waits until the same
connection carries another request or closes. The Lambda runtime usually polls for its next
event on that connection, which releases the answer; but when the early 200 reaches it while
it is still writing a large body, it polls on a new connection instead, and the answer is
lost (a client timeout, or the emulator's problem+json 500 when the connection closes). Sent
with `Connection: close`, the server closes its read side when the body ends, so the body
always ends and the answer goes out. `scripts/soak.py` is the check.

Usage: runtime_relay.py BINARY [ARGS...]   (AWS_LAMBDA_RUNTIME_API must be set, as cargo
lambda watch does). Exits with the function's exit status.
"""

import http.client
import http.server
import os
import signal
import subprocess
import sys
import threading
import urllib.parse

# Hop-by-hop headers, and the framing http.client sets itself.
NOT_FORWARDED = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def upstream_of(runtime_api):
    """(host, port, base path) of the emulator's runtime API for this function."""
    url = urllib.parse.urlsplit(runtime_api if "://" in runtime_api else f"http://{runtime_api}")
    return url.hostname, url.port or 80, url.path.rstrip("/")


def make_handler(host, port):
    class Relay(http.server.BaseHTTPRequestHandler):
        # Keep-alive towards the function, so its runtime client behaves as it would anyway.
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # runtime client's delayed ACK hold every answer back by ~40 ms.
        disable_nagle_algorithm = True

        def do_GET(self):
            self.relay()

        def do_POST(self):
            self.relay()

        def relay(self):
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                # Streaming responses are not used here (API Gateway HTTP APIs buffer them).
                self.answer(501, [], b"runtime_relay.py: chunked (streaming) responses are not relayed")
                return
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in NOT_FORWARDED}
            headers["Connection"] = "close"
            # No timeout: `invocation/next` waits as long as no request comes in.
            upstream = http.client.HTTPConnection(host, port)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                reply = upstream.getresponse()
                data = reply.read()
            except OSError as err:
                self.answer(502, [], f"runtime_relay.py: cargo lambda watch unreachable: {err}".encode())
                return
            finally:
                upstream.close()
            kept = [(k, v) for k, v in reply.getheaders() if k.lower() not in NOT_FORWARDED]
            self.answer(reply.status, kept, data)

        def answer(self, status, headers, data):
            self.send_response_only(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass  # the function and cargo lambda watch log every invocation already

    return Relay


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    host, port, base = upstream_of(os.environ["AWS_LAMBDA_RUNTIME_API"])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(host, port))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"http://127.0.0.1:{server.server_address[1]}{base}")
    function = subprocess.Popen(sys.argv[1:], env=env)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda number, _frame: function.send_signal(number))
    sys.exit(function.wait())


if __name__ == "__main__":
    main()
