#!/usr/bin/env python3
"""A short load through the real function binaries under `cargo lambda watch`, whose database
is reached through PgBouncer in transaction mode (scripts/test.sh starts the stack with
STACK_PGBOUNCER=1): a named prepared statement that creeps back in fails here, as it would
behind RDS Proxy or PgBouncer in production.

LOAD_CLIENTS clients (default 50) each loop for LOAD_SECONDS (default 20): upload a small
PNG, get it, list the event's media, and delete every other one they uploaded. Then:

- no answer is lost (each has LOAD_TIMEOUT seconds, default 30) and none is a 5xx, except
  503 SERVICE_BUSY with Retry-After (back-pressure: a container's one connection busy past
  DATABASE_POOL_TIMEOUT_MS), which is counted and allowed;
- every other answer is the one expected (201, 200 with the item, 204);
- the event then holds exactly the media that were uploaded and not deleted, and the bucket
  exactly their objects under the event's prefix (nothing left half-written);
- every line the functions wrote to API_LOG that is JSON is one object with unique keys.

Prints the count, throughput, p50 and p99 of each endpoint. Reads API_URL, LOAD_EVENT_ID (an
event with no media yet), LOAD_TOKEN, API_LOG, and the stack's S3 settings
(AWS_ENDPOINT_URL_S3, S3_BUCKET_NAME, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).

With LOAD_RESTART_AT=SECONDS and LOAD_RESTART_COMMAND (a shell command that restarts the
database and returns once it accepts connections again; scripts/bench.sh runs
`restart_postgres`), the database is restarted that far into the run, and the report adds the
time from the database accepting connections again to each endpoint's first 2xx answer and to
its last non-2xx answer (when its errors stopped); the checks above hold through the restart.
LOAD_LABEL names the run in the report, LOAD_REPORT (a path) receives it as Markdown too.
LOAD_BEFORE_CHECK_COMMAND runs after the load, before the checks; with LOAD_CHECK_DATABASE_URL
the event's rows are read from the database with psql instead of listed through the API.
"""

import collections
import glob
import json
import os
import sys
import threading
import time
import struct
import subprocess
import uuid
import zlib

import boto3

import api_client

API = os.environ["API_URL"].rstrip("/")
EVENT = os.environ["LOAD_EVENT_ID"]
TOKEN = os.environ["LOAD_TOKEN"]
CLIENTS = int(os.environ.get("LOAD_CLIENTS", "50"))
SECONDS = float(os.environ.get("LOAD_SECONDS", "20"))
TIMEOUT = float(os.environ.get("LOAD_TIMEOUT", "30"))
RESTART_AT = float(os.environ["LOAD_RESTART_AT"]) if os.environ.get("LOAD_RESTART_AT") else None
RESTART_COMMAND = os.environ.get("LOAD_RESTART_COMMAND", "")
LABEL = os.environ.get("LOAD_LABEL", "through PgBouncer (transaction mode)")
ENDPOINTS = ("upload", "get", "list", "delete")
MEDIA = f"{API}/api/v1/events/{EVENT}/media"


def png():
    """A valid 1x1 PNG (chunk CRCs and all), as a client would upload."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00\xff")) + chunk(b"IEND", b""))


PNG = png()


def call(method, url, body=None, headers=None):
    """(status, headers, body), or (None, {}, reason) when no answer came within TIMEOUT."""
    return api_client.call(method, url, TOKEN, TIMEOUT, body, headers)


def multipart(data):
    boundary = uuid.uuid4().hex
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"load.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return form, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


class Tally:
    """Every answer, per endpoint: its latency and status; and what went wrong."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = collections.defaultdict(list)
        self.statuses = collections.defaultdict(collections.Counter)
        self.problems = []
        self.busy = 0
        # (endpoint, sent, answered, status) of every answer, in monotonic time.
        self.timeline = []

    def record(self, endpoint, took, status, headers, body, expected):
        """Whether the answer is the expected one; a 503 SERVICE_BUSY is allowed but not it."""
        answered = time.monotonic()
        with self.lock:
            self.timeline.append((endpoint, answered - took, answered, status))
            self.latencies[endpoint].append(took)
            self.statuses[endpoint][status] += 1
            if status == expected:
                return True
            if status == 503 and is_service_busy(headers, body):
                self.busy += 1
                return False
            self.problems.append(f"{endpoint}: {status} after {took:.2f} s: {body[:200]!r}")
            return False


def is_service_busy(headers, body):
    retry_after = {k.lower(): v for k, v in headers.items()}.get("retry-after", "")
    try:
        code = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return False
    return code == "SERVICE_BUSY" and retry_after.isdigit() and int(retry_after) >= 1


def client(tally, deadline, kept, deleted):
    mine = []
    while time.monotonic() < deadline:
        form, headers = multipart(PNG)
        sent = time.monotonic()
        status, h, body = call("POST", MEDIA, form, headers)
        if tally.record("upload", time.monotonic() - sent, status, h, body, 201):
            media_id = json.loads(body)["id"]
            mine.append(media_id)
            sent = time.monotonic()
            status, h, body = call("GET", f"{MEDIA}/{media_id}")
            if tally.record("get", time.monotonic() - sent, status, h, body, 200) \
                    and json.loads(body)["id"] != media_id:
                tally.problems.append(f"get {media_id}: another item {body[:200]!r}")
        sent = time.monotonic()
        status, h, body = call("GET", f"{MEDIA}?limit=100")
        tally.record("list", time.monotonic() - sent, status, h, body, 200)
        if len(mine) >= 2:
            media_id = mine.pop(0)
            sent = time.monotonic()
            status, h, body = call("DELETE", f"{MEDIA}/{media_id}")
            if tally.record("delete", time.monotonic() - sent, status, h, body, 204):
                deleted.append(media_id)
            else:
                mine.insert(0, media_id)
    kept.extend(mine)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def stored_media(database_url):
    """Every live media row of the event, read from the database with psql: {id: s3_key}."""
    psql = os.path.join(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1], "psql")
    done = subprocess.run([psql, "-XAt", "-F", " ", database_url, "-c",
                           f"select id, s3_key from event_media where event_id = '{EVENT}' and not is_deleted"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"psql could not read the rows: {done.stderr[-300:]}")
    return dict(line.split(" ", 1) for line in done.stdout.splitlines() if line)


def listed_media():
    """Every media item of the event, page by page: {id: s3_key}."""
    listed, skip = {}, 0
    while True:
        status, _, body = call("GET", f"{MEDIA}?skip={skip}&limit=1000")
        if status != 200:
            raise RuntimeError(f"the final listing answered {status}: {body[:300]!r}")
        page = json.loads(body)
        listed.update((m["id"], m["s3_key"]) for m in page)
        if len(page) < 1000:
            return listed
        skip += len(page)


def bucket_keys():
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
                      region_name=os.environ.get("S3_REGION", "us-east-1"))
    keys = set()
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=os.environ.get("S3_BUCKET_NAME", "plugs-bucket"), Prefix=f"events/{EVENT}/")
    for page in pages:
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


def log_lines_with_repeated_keys(path):
    """The JSON lines of the functions' log that are not one object with unique keys."""
    def unique(pairs):
        keys = [k for k, _ in pairs]
        repeated = {k for k in keys if keys.count(k) > 1}
        if repeated:
            raise ValueError(f"repeated keys {sorted(repeated)}")
        return dict(pairs)

    bad, checked = [], 0
    with open(path, errors="replace") as log:
        for line in log:
            line = line.strip()
            if not line.startswith("{"):
                continue  # cargo lambda watch's own lines
            checked += 1
            try:
                json.loads(line, object_pairs_hook=unique)
            except ValueError as err:
                bad.append(f"{err}: {line[:200]}")
    return checked, bad


class Restart:
    """Restarts the database RESTART_AT seconds after `started` with RESTART_COMMAND; keeps when
    it began and when the database accepted connections again (the command returned)."""

    def __init__(self, started):
        self.began = self.ready = None
        self.failure = None
        self.thread = threading.Thread(target=self.run, args=(started,))

    def run(self, started):
        time.sleep(max(0.0, started + RESTART_AT - time.monotonic()))
        self.began = time.monotonic()
        done = subprocess.run(["bash", "-c", RESTART_COMMAND], capture_output=True, text=True)
        self.ready = time.monotonic()
        if done.returncode != 0:
            self.failure = f"the restart command failed ({done.returncode}): {done.stderr[-300:]}"


def recovery(tally, ready):
    """Per endpoint: seconds from `ready` to its first 2xx answer after it, and to its last
    answer that was not a 2xx (0 when there was none after it)."""
    result = {}
    for endpoint in ENDPOINTS:
        answers = [(sent, answered, status) for e, sent, answered, status in tally.timeline if e == endpoint]
        first_ok = min((answered for sent, answered, status in answers
                        if answered >= ready and status is not None and 200 <= status < 300), default=None)
        last_bad = max((answered for sent, answered, status in answers
                        if answered >= ready and not (status is not None and 200 <= status < 300)), default=None)
        result[endpoint] = (None if first_ok is None else first_ok - ready,
                            0.0 if last_bad is None else last_bad - ready)
    return result


def markdown(tally, elapsed, restart, recovered, consistency, failed):
    """The run as Markdown: the per-endpoint table, the restart and the checks."""
    lines = [f"#### {LABEL}", "",
             f"{CLIENTS} clients for {elapsed:.1f} s"
             + (f"; PostgreSQL restarted (`pg_ctl restart -m fast`) at {restart.began - STARTED:.1f} s, "
                f"accepting connections again at {restart.ready - STARTED:.1f} s" if restart else "") + ".", "",
             "| endpoint | requests | per s | p50 ms | p99 ms | statuses |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for endpoint in ENDPOINTS:
        latencies = tally.latencies.get(endpoint, [])
        if not latencies:
            continue
        statuses = ", ".join(f"{s if s is not None else 'no answer'}: {n}"
                             for s, n in sorted(tally.statuses[endpoint].items(), key=str))
        lines.append(f"| {endpoint} | {len(latencies)} | {len(latencies) / elapsed:.1f} | "
                     f"{percentile(latencies, 0.5) * 1000:.0f} | {percentile(latencies, 0.99) * 1000:.0f} | {statuses} |")
    every = collections.Counter()
    for counts in tally.statuses.values():
        every.update(counts)
    lines += ["", "All statuses: " + ", ".join(f"{s if s is not None else 'no answer'}: {n}"
                                              for s, n in sorted(every.items(), key=str)) + "."]
    if recovered:
        lines += ["", "Recovery, from PostgreSQL accepting connections again:", "",
                  "| endpoint | first 2xx after | last non-2xx after |", "| --- | ---: | ---: |"]
        for endpoint, (first_ok, last_bad) in recovered.items():
            first = "none" if first_ok is None else f"{first_ok:.2f} s"
            lines.append(f"| {endpoint} | {first} | {last_bad:.2f} s |")
    lines += ["", f"Consistency afterwards: {consistency}.", "",
              f"Result: {'**FAILED**' if failed else 'passed'} "
              f"({len(failed)} problems{': ' + '; '.join(failed[:5]) if failed else ''}).", ""]
    return "\n".join(lines)


STARTED = None


def main():
    global STARTED
    tally, kept, deleted = Tally(), [], []
    started = STARTED = time.monotonic()
    deadline = started + SECONDS
    restart = Restart(started) if RESTART_AT is not None else None
    threads = [threading.Thread(target=client, args=(tally, deadline, kept, deleted)) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    if restart:
        restart.thread.start()
    for thread in threads:
        thread.join()
    if restart:
        restart.thread.join()
    elapsed = time.monotonic() - started

    print(f"      {CLIENTS} clients for {elapsed:.1f} s {LABEL}:")
    for endpoint, latencies in tally.latencies.items():
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(tally.statuses[endpoint].items(), key=str))
        print(f"      {endpoint:7} {len(latencies):5} requests  {len(latencies) / elapsed:6.1f}/s  "
              f"p50 {percentile(latencies, 0.5) * 1000:6.0f} ms  p99 {percentile(latencies, 0.99) * 1000:6.0f} ms  "
              f"({statuses})")
    print(f"      503 SERVICE_BUSY (allowed): {tally.busy}")
    recovered = None
    if restart:
        print(f"      restart at {restart.began - started:.1f} s, accepting connections at {restart.ready - started:.1f} s")
        recovered = recovery(tally, restart.ready)
        for endpoint, (first_ok, last_bad) in recovered.items():
            first = "none" if first_ok is None else f"{first_ok:.2f} s"
            print(f"      {endpoint:7} first 2xx {first} after, last non-2xx {last_bad:.2f} s after")

    failed = list(tally.problems)
    if restart and restart.failure:
        failed.append(restart.failure)
    # Without a pooler, idle function processes keep the database's every slot: the bench
    # stops them first (LOAD_BEFORE_CHECK_COMMAND) and reads the rows itself.
    if os.environ.get("LOAD_BEFORE_CHECK_COMMAND"):
        subprocess.run(["bash", "-c", os.environ["LOAD_BEFORE_CHECK_COMMAND"]], check=False)
    try:
        check_url = os.environ.get("LOAD_CHECK_DATABASE_URL")
        listed = stored_media(check_url) if check_url else listed_media()
    except RuntimeError as err:
        failed.append(str(err))
        listed = {}
    if set(listed) != set(kept):
        failed.append(f"the event lists {len(listed)} media, the clients kept {len(kept)}: "
                      f"{len(set(listed) - set(kept))} unexpected, {len(set(kept) - set(listed))} missing")
    keys = bucket_keys()
    if keys != set(listed.values()):
        failed.append(f"the bucket holds {len(keys)} objects of the event, the rows name {len(listed)}: "
                      f"{sorted(keys ^ set(listed.values()))[:5]}")
    checked, bad = log_lines_with_repeated_keys(os.environ["API_LOG"])
    if checked == 0:
        failed.append(f"no JSON line in {os.environ['API_LOG']}: the functions' logs were not captured")
    failed.extend(bad[:5])
    consistency = (f"{len(kept)} media kept, {len(deleted)} deleted; the event lists {len(listed)}, the bucket holds "
                   f"{len(keys)} objects under its prefix, {len(set(listed.values()) - keys)} rows without their object, "
                   f"{len(keys - set(listed.values()))} objects without their row")
    print(f"      consistency: {consistency}; {checked} JSON log lines, {len(bad)} with a repeated key")
    if os.environ.get("LOAD_REPORT"):
        with open(os.environ["LOAD_REPORT"], "w") as report:
            report.write(markdown(tally, elapsed, restart, recovered, consistency, failed))

    for problem in failed[:20]:
        print(f"FAIL  {problem}")
    print(f"load: {'FAILED' if failed else 'passed'} ({len(failed)} problems)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
