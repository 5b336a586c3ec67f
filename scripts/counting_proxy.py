"""A forward HTTP proxy on loopback for the browser tests: Chromium sends every request through
it (`--proxy-server`), so presigned URLs keep their Host and their signatures, and the page and
the API see nothing unusual. It records each request to the S3 endpoint, UploadPart requests
(`PUT …?partNumber=N&uploadId=…`) with their outcome, can slow part bodies down to a given rate
(so that a test can pause with parts in flight), and can refuse S3 requests for a moment, as an
S3 endpoint that refuses connections would: the browser's request ends without an answer.

Only loopback targets are relayed; anything else gets 403. Request bodies must carry a
Content-Length (browsers send one for XHR and fetch bodies).
"""

import http.client
import http.server
import socket
import threading
import time
import urllib.parse

# Headers that concern one connection, not the request (RFC 9110 §7.6.1), plus the proxy's own.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
              "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"}
CHUNK = 64 * 1024
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class ClientGone(Exception):
    """The browser closed the connection before its request body was all sent (a pause)."""


class S3Request:
    """One request the proxy saw for the S3 endpoint."""

    def __init__(self, method, path, query):
        self.method = method
        self.path = path
        self.part_number = int(query["partNumber"][0]) if "partNumber" in query else None
        self.upload_id = query["uploadId"][0] if "uploadId" in query else None
        self.started = time.monotonic()
        self.bytes_sent = 0
        # in-flight, then stored (S3 answered 2xx), failed (any other status), aborted (the
        # browser gave up mid-body; S3 got a short body and a closed connection) or refused
        # (never reached S3).
        self.outcome = "in-flight"
        self.status = None

    @property
    def is_upload_part(self):
        return self.method == "PUT" and self.part_number is not None and self.upload_id is not None

    def __repr__(self):
        return f"<{self.method} part={self.part_number} {self.outcome} {self.bytes_sent}B>"


class CountingProxy(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, s3_endpoint, part_bytes_per_second=None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.s3_netloc = urllib.parse.urlsplit(s3_endpoint).netloc
        self.part_bytes_per_second = part_bytes_per_second
        self.lock = threading.Lock()
        self.requests = []
        self._refuse_until = 0.0
        self._outage_armed = None  # seconds of refusal that start with the next UploadPart
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    # --- what the test asks -------------------------------------------------------------
    def parts(self, since=0.0):
        """UploadPart requests started at or after `since` (time.monotonic())."""
        with self.lock:
            return [r for r in self.requests if r.is_upload_part and r.started >= since]

    def stored_parts(self, since=0.0):
        return [r for r in self.parts(since) if r.outcome == "stored"]

    def s3_requests(self):
        with self.lock:
            return list(self.requests)

    def refuse_from_next_part(self, seconds):
        """S3 refuses for `seconds` from the next UploadPart request on, that one included."""
        with self.lock:
            self._outage_armed = seconds

    # --- what the handler uses ----------------------------------------------------------
    def _begin(self, request):
        with self.lock:
            self.requests.append(request)
            if self._outage_armed is not None and request.is_upload_part:
                self._refuse_until = time.monotonic() + self._outage_armed
                self._outage_armed = None
            if time.monotonic() < self._refuse_until:
                request.outcome = "refused"
                return False
            return True

    def _finish(self, request, outcome, status=None):
        with self.lock:
            request.outcome, request.status = outcome, status


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120

    def log_message(self, *args):
        pass

    def do_GET(self):
        self._relay()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def do_CONNECT(self):
        # Chromium's own https traffic (autofill, updates) asks for tunnels even with
        # background networking off; none is opened. Without this the server answered 501 and
        # printed a traceback when the browser had already hung up.
        self.close_connection = True
        try:
            self._answer(403, b"this proxy opens no tunnels\n")
        except OSError:
            pass

    def _relay(self):
        url = urllib.parse.urlsplit(self.path)
        if url.scheme != "http" or url.hostname not in LOOPBACK_HOSTS:
            self._answer(403, b"this proxy relays plain http to loopback only\n")
            return
        record = None
        if url.netloc == self.server.s3_netloc:
            record = S3Request(self.command, url.path, urllib.parse.parse_qs(url.query))
            if not self.server._begin(record):
                # As a refused connection looks to the browser: no answer at all.
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
        upstream = http.client.HTTPConnection(url.netloc, timeout=120)
        try:
            status, headers, body = self._forward(upstream, url, record)
        except ClientGone:
            upstream.close()  # S3 sees a short body and a closed connection: no part
            if record:
                self.server._finish(record, "aborted")
            self.close_connection = True
            return
        except OSError:
            upstream.close()
            if record:
                self.server._finish(record, "failed")
            self._answer(502, b"upstream unreachable\n")
            return
        upstream.close()
        if record:
            self.server._finish(record, "stored" if 200 <= status < 300 else "failed", status)
        self.send_response_only(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP and (name.lower() != "content-length" or self.command == "HEAD"):
                self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(body)))
        try:
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            # The browser gave up after S3 had the whole request (a pause): nothing to tell.
            self.close_connection = True

    def _forward(self, upstream, url, record):
        upstream.putrequest(self.command, urllib.parse.urlunsplit(("", "", url.path or "/", url.query, "")),
                            skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP:
                upstream.putheader(name, value)
        upstream.endheaders()
        remaining = int(self.headers.get("Content-Length") or 0)
        rate = self.server.part_bytes_per_second if record and record.is_upload_part else None
        sent, started = 0, time.monotonic()
        while remaining:
            try:
                chunk = self.rfile.read(min(CHUNK, remaining))
            except OSError:
                chunk = b""
            if not chunk:
                raise ClientGone()
            upstream.send(chunk)
            remaining -= len(chunk)
            sent += len(chunk)
            if record:
                record.bytes_sent = sent
            if rate:
                time.sleep(max(0.0, sent / rate - (time.monotonic() - started)))
        response = upstream.getresponse()
        return response.status, response.getheaders(), response.read()

    def _answer(self, status, body):
        self.send_response_only(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
