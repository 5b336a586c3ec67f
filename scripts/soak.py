#!/usr/bin/env python3
"""Soak through the local gateway: many sequential requests, each with a short client
timeout, and every one must come back. Uploads one 1 MiB JPEG and 100 small ones, then
downloads the 1 MiB file inline N times and lists the event's 101 media N times, one request
after the other, as a client would. (`cargo lambda watch` lost answers whose Lambda response
is larger than what it reads at once, see scripts/runtime_relay.py: the listing is made big
enough, ~50 KB, to be one of those.)

A request that times out, or whose connection fails, is a lost answer; one that comes back
with a wrong status or wrong bytes is a wrong answer. Either fails the run, with the counts.

Reads API_URL, SOAK_EVENT_ID (an event with no media yet) and SOAK_TOKEN from the environment
(scripts/test.sh sets them);
SOAK_REQUESTS (default 300) sets N, SOAK_TIMEOUT (default 10) the client timeout in seconds.
"""

import concurrent.futures
import json
import os
import sys
import time
import uuid

import api_client

API = os.environ["API_URL"].rstrip("/")
EVENT = os.environ["SOAK_EVENT_ID"]
TOKEN = os.environ["SOAK_TOKEN"]
REQUESTS = int(os.environ.get("SOAK_REQUESTS", "300"))
TIMEOUT = float(os.environ.get("SOAK_TIMEOUT", "10"))
MEDIA = f"{API}/api/v1/events/{EVENT}/media"
MIB = 1024 * 1024
SMALL_FILES = 100


def call(method, url, body=None, headers=None):
    """(status, body), or (None, reason) when no answer came back within TIMEOUT. A redirect
    is not followed: a download must come back inline from the function."""
    status, _, answer = api_client.call(method, url, TOKEN, TIMEOUT, body, headers)
    return status, answer


def jpeg(size):
    header = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    # Every byte value, so a body mangled in transit (text vs base64) cannot pass.
    return header + bytes(range(256)) * ((size - len(header)) // 256) + bytes((size - len(header)) % 256)


def upload(data):
    boundary = uuid.uuid4().hex
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"soak.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    status, body = call("POST", MEDIA, form, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    if status != 201:
        sys.exit(f"soak: an upload of {len(data)} bytes answered {status}: {body[:300]!r}")
    return json.loads(body)["id"]


def answers_right(is_right, status, body):
    try:
        return is_right(status, body)
    except (ValueError, KeyError, TypeError):
        return False  # not the JSON expected


def soak(name, method, url, is_right):
    """Sends REQUESTS sequential requests; returns (lost, wrong, seconds)."""
    lost, wrong = [], []
    started = time.monotonic()
    for i in range(REQUESTS):
        sent = time.monotonic()
        status, body = call(method, url)
        took = time.monotonic() - sent
        if status is None or took > TIMEOUT:
            # The socket timeout bounds each read; this bounds the whole request.
            lost.append(i)
            print(f"      {name} #{i}: no answer within {TIMEOUT:g} s ({took:.1f} s, {body if status is None else status})")
        elif not answers_right(is_right, status, body):
            wrong.append(i)
            print(f"      {name} #{i}: wrong answer {status}: {body[:200]!r}")
    return lost, wrong, time.monotonic() - started


def main():
    data = jpeg(MIB)
    media_id = upload(data)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        ids = {media_id, *pool.map(upload, [jpeg(1024)] * SMALL_FILES)}
    status, listing = call("GET", f"{MEDIA}?limit=1000")
    print(f"      the listing of {len(ids)} media is {len(listing)} bytes")
    runs = [
        ("download", "GET", f"{MEDIA}/{media_id}/download", lambda s, b: s == 200 and b == data),
        ("list", "GET", f"{MEDIA}?limit=1000", lambda s, b: s == 200 and {m["id"] for m in json.loads(b)} == ids),
    ]
    failed = False
    for name, method, url, is_right in runs:
        lost, wrong, seconds = soak(name, method, url, is_right)
        ok = REQUESTS - len(lost) - len(wrong)
        verdict = "ok   " if not lost and not wrong else "FAIL "
        failed |= bool(lost or wrong)
        print(f"{verdict} {REQUESTS} sequential {name}s ({TIMEOUT:g} s timeout each): "
              f"{ok} answered right, {len(lost)} lost, {len(wrong)} wrong, in {seconds:.1f} s")
    print(f"soak: {'FAILED' if failed else 'passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
