#!/usr/bin/env python3
"""API Gateway (HTTP API, payload format 2.0) and Lambda's runtime API on loopback, with a fixed
number of processes of each function binary started up front, as Lambda keeps warm containers.
scripts/bench.sh serves its load with a database restart through it (48 function processes).

Why not `cargo lambda watch --concurrency N`: it starts each instance on demand through `cargo
run`, which waits on cargo's package cache and build directory locks; with 200 clients at once
the instances came up over tens of seconds and the emulator stopped answering altogether (every
request, even a single curl afterwards, timed out at 60 s). Here every process is running and
polling before the first request.

Each request is routed by the endpoint registry's router (`plugs-media watch-router`), turned
into a payload 2.0 event, queued for its function and handed to the next process that polls
`invocation/next` (a request waits in the queue while every process of its function is busy,
as with a function at its reserved concurrency); the function's answer goes back as API Gateway
would send it. A function that does not answer within --timeout gets API Gateway's 503; an
invocation error, its 500. A process that exits is started again.

Usage: lambda_pool.py --port PORT --bin-dir DIR --router ROUTER.toml --env-file FILE
                      --instances N FUNCTION...
"""

import argparse
import base64
import http.server
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import tomllib
import urllib.parse
import uuid


class Invocation:
    def __init__(self, event):
        self.id = str(uuid.uuid4())
        self.event = event
        self.done = threading.Event()
        self.response = None
        self.failed = False


class Pool:
    """The queued invocations of every function, and those handed to a process."""

    def __init__(self, functions):
        self.queues = {name: queue.Queue() for name in functions}
        self.running = {}
        self.lock = threading.Lock()

    def take(self, function):
        invocation = self.queues[function].get()
        with self.lock:
            self.running[invocation.id] = invocation
        return invocation

    def finish(self, request_id, body, failed):
        with self.lock:
            invocation = self.running.pop(request_id, None)
        if invocation:
            invocation.response, invocation.failed = body, failed
            invocation.done.set()


def routes_of(router_path):
    """[(method, regex, route template, function)] from the watch router."""
    with open(router_path, "rb") as f:
        router = tomllib.load(f)["watch"]["router"]
    routes = []
    for template, entries in router.items():
        pattern = "/".join(f"(?P<{s[1:-1]}>[^/]+)" if s.startswith("{") else re.escape(s)
                           for s in template.split("/"))
        pattern = re.compile(f"^{pattern}$")
        for entry in entries:
            routes.append((entry["method"].upper(), pattern, template, entry["function"]))
    return routes


def event_for(method, template, path, query, headers, body, params):
    return {
        "version": "2.0",
        "routeKey": f"{method} {template}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": {k: ",".join(v) for k, v in urllib.parse.parse_qs(query).items()} or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": headers.get("user-agent", "")},
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {template}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "pathParameters": params or None,
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }


def make_gateway(pool, routes, timeout):
    class Gateway(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self):
            self.invoke()

        do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

        def invoke(self):
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            for method, pattern, template, function in routes:
                match = pattern.match(url.path)
                if method == self.command and match:
                    break
            else:
                self.answer(404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            invocation = Invocation(event_for(self.command, template, url.path, url.query, headers, body,
                                              match.groupdict()))
            pool.queues[function].put(invocation)
            if not invocation.done.wait(timeout):
                self.answer(503, {"content-type": "application/json"}, b'{"message":"Service Unavailable"}')
                return
            if invocation.failed:
                self.answer(500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
                return
            self.relay(invocation.response)

        def relay(self, raw):
            try:
                reply = json.loads(raw)
            except ValueError:
                reply = None
            if not isinstance(reply, dict) or "statusCode" not in reply:
                self.answer(200, {"content-type": "application/json"}, raw)
                return
            body = reply.get("body") or ""
            data = base64.b64decode(body) if reply.get("isBase64Encoded") else body.encode()
            headers = dict(reply.get("headers") or {})
            cookies = reply.get("cookies") or []
            self.answer(int(reply["statusCode"]), headers, data, cookies)

        def answer(self, status, headers, data, cookies=()):
            self.send_response_only(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            for cookie in cookies:
                self.send_header("set-cookie", cookie)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Gateway


def make_runtime_api(pool, timeout):
    next_path = re.compile(r"^/fn/([a-z-]+)/2018-06-01/runtime/invocation/next$")
    result_path = re.compile(r"^/fn/([a-z-]+)/2018-06-01/runtime/invocation/([^/]+)/(response|error)$")

    class RuntimeApi(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self):
            match = next_path.match(self.path)
            if not match:
                self.answer(404, b"")
                return
            invocation = pool.take(match.group(1))
            data = json.dumps(invocation.event).encode()
            self.send_response_only(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", invocation.id)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int((time.time() + timeout) * 1000)))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                             f"arn:aws:lambda:us-east-1:123456789012:function:{match.group(1)}")
            self.send_header("Lambda-Runtime-Trace-Id", os.environ.get("_X_AMZN_TRACE_ID", ""))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            match = result_path.match(self.path)
            if match:
                pool.finish(match.group(2), body, failed=match.group(3) == "error")
            elif not self.path.endswith("/init/error"):
                self.answer(404, b"")
                return
            else:
                print(f"lambda_pool: init error {self.path}: {body[:300]!r}", file=sys.stderr, flush=True)
            self.answer(202, b"{}")

        def answer(self, status, data):
            self.send_response_only(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return RuntimeApi


class Server(http.server.ThreadingHTTPServer):
    # Hundreds of clients connect at once: the default backlog of 5 resets most of them.
    request_queue_size = 1024
    daemon_threads = True


def env_file(path):
    """KEY="VALUE" lines, as `cargo lambda watch --env-file` reads them (scripts/lib.sh)."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                env[key] = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    return env


def supervise(binary, function, env, stop):
    """Keeps one process of `function` running until `stop` is set."""
    while not stop.is_set():
        process = subprocess.Popen([binary], env=env)
        while process.poll() is None and not stop.is_set():
            time.sleep(0.2)
        if stop.is_set():
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
            return
        print(f"lambda_pool: {function} exited with {process.returncode}; starting it again",
              file=sys.stderr, flush=True)
        time.sleep(0.2)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--router", required=True)
    parser.add_argument("--env-file", required=True)
    parser.add_argument("--instances", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=29.0, help="seconds, as the HTTP API's integration timeout")
    parser.add_argument("functions", nargs="+")
    args = parser.parse_args()

    pool = Pool(args.functions)
    routes = [r for r in routes_of(args.router) if r[3] in args.functions]
    runtime = Server(("127.0.0.1", 0), make_runtime_api(pool, args.timeout))
    threading.Thread(target=runtime.serve_forever, daemon=True).start()
    gateway = Server(("127.0.0.1", args.port), make_gateway(pool, routes, args.timeout))

    base = {**os.environ, **env_file(args.env_file)}
    stop = threading.Event()
    supervisors = []
    for function in args.functions:
        env = dict(base, AWS_LAMBDA_FUNCTION_NAME=function, AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                   AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
                   AWS_LAMBDA_RUNTIME_API=f"http://127.0.0.1:{runtime.server_address[1]}/fn/{function}")
        for _ in range(args.instances):
            thread = threading.Thread(target=supervise, args=(os.path.join(args.bin_dir, function), function, env, stop))
            thread.start()
            supervisors.append(thread)

    def shut_down(*_):
        stop.set()
        threading.Thread(target=gateway.shutdown, daemon=True).start()

    import signal
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, shut_down)
    print(f"lambda_pool: {len(supervisors)} processes of {', '.join(args.functions)} on port {args.port}",
          file=sys.stderr, flush=True)
    gateway.serve_forever()
    for thread in supervisors:
        thread.join()


if __name__ == "__main__":
    main()
