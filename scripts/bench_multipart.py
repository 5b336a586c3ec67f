#!/usr/bin/env python3
"""A big upload to the local S3 through this API's multipart flow, against `aws s3 cp` of the
same file to the same S3, with the same part size and concurrency, in one run.

Our flow, as a client would run it: create-multipart-upload, then CONCURRENCY workers that each
sign a part (one sign-multipart-parts call per part, as Uppy's signPart does) and PUT it to its
presigned URL, then complete-multipart-upload. `aws s3 cp --sse AES256` (awscli from PyPI, in
its own virtualenv: its botocore pin differs from aws-sam-cli's) runs with
multipart_chunksize = the part size the API chose and max_concurrent_requests = CONCURRENCY,
set in a private AWS_CONFIG_FILE. The runs alternate (ours, aws, ours, aws…); each object is
deleted after its run. Times: wall clock of each upload; sign and complete as the client sees
them (a round trip to the API on loopback).

Reads API_URL, BENCH_EVENT_ID, BENCH_TOKEN, AWS_ENDPOINT_URL_S3 and the AWS_* keys; AWSCLI is
the path of the `aws` executable. Appends a section to --out when given; prints it either way.
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import boto3
from botocore.config import Config

MiB = 1024 * 1024
API = os.environ["API_URL"].rstrip("/")
EVENT = os.environ["BENCH_EVENT_ID"]
TOKEN = os.environ["BENCH_TOKEN"]
BUCKET = os.environ.get("S3_BUCKET_NAME", "plugs-bucket")
MP4_HEADER = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


class Connections(threading.local):
    """One keep-alive connection per thread and host, as botocore's pool keeps them."""

    def get(self, netloc):
        pool = self.__dict__.setdefault("pool", {})
        if netloc not in pool:
            pool[netloc] = http.client.HTTPConnection(netloc, timeout=300)
        return pool[netloc]

    def request(self, method, url, body=None, headers=None):
        parts = urllib.parse.urlsplit(url)
        target = urllib.parse.urlunsplit(("", "", parts.path, parts.query, ""))
        for attempt in (1, 2):
            connection = self.get(parts.netloc)
            try:
                connection.request(method, target, body=body, headers=headers or {})
                response = connection.getresponse()
                return response.status, dict(response.getheaders()), response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the server closed meanwhile: once more, on a new one.
                connection.close()
                del self.pool[parts.netloc]
                if attempt == 2:
                    raise


connections = Connections()


def api(method, path, body=None):
    status, _, payload = connections.request(
        method, API + path, body=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    if status >= 300:
        raise RuntimeError(f"{method} {path}: {status} {payload[:300]!r}")
    return json.loads(payload) if payload else None


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def our_flow(path, size, concurrency):
    """Create, sign and PUT every part with `concurrency` workers, complete. Returns the wall
    time, the sign times, the complete time, the part size and the media id."""
    base = f"/api/v1/events/{EVENT}/media/multipart"
    started = time.perf_counter()
    upload = api("POST", base, {"filename": os.path.basename(path), "content_type": "video/mp4", "file_size": size})
    part_size, count, upload_id = upload["part_size"], upload["part_count"], upload["upload_id"]
    signs = []
    fd = os.open(path, os.O_RDONLY)

    def send(number):
        answer, took = timed(api, "POST", f"{base}/{upload_id}/parts", {"part_numbers": [number]})
        signs.append(took)
        part = answer["parts"][0]
        body = os.pread(fd, part_size, (number - 1) * part_size)
        headers = {k: v for k, v in part.get("headers", {}).items() if k.lower() != "content-length"}
        status, response_headers, payload = connections.request("PUT", part["url"], body=body, headers=headers)
        if status != 200:
            raise RuntimeError(f"part {number}: {status} {payload[:300]!r}")
        etag = {k.lower(): v for k, v in response_headers.items()}["etag"]
        return {"part_number": number, "etag": etag}

    try:
        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            parts = list(pool.map(send, range(1, count + 1)))
    finally:
        os.close(fd)
    media, complete = timed(api, "POST", f"{base}/{upload_id}/complete", {"parts": parts})
    wall = time.perf_counter() - started
    if media["file_size"] != size:
        raise RuntimeError(f"the media row says {media['file_size']} bytes, the file has {size}")
    return wall, signs, complete, part_size, media["id"]


def aws_config(directory, part_size, concurrency):
    path = os.path.join(directory, "aws-config")
    with open(path, "w") as f:
        f.write("[default]\n"
                f"region = {os.environ.get('AWS_REGION', 'us-east-1')}\n"
                "s3 =\n"
                f"    multipart_threshold = {part_size // MiB}MB\n"
                f"    multipart_chunksize = {part_size // MiB}MB\n"
                f"    max_concurrent_requests = {concurrency}\n"
                "    addressing_style = path\n")
    return path


def aws_cp(awscli, config, path, key):
    env = dict(os.environ, AWS_CONFIG_FILE=config, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    started = time.perf_counter()
    subprocess.run([awscli, "s3", "cp", "--only-show-errors", "--sse", "AES256",
                    "--endpoint-url", os.environ["AWS_ENDPOINT_URL_S3"], path, f"s3://{BUCKET}/{key}"],
                   check=True, env=env)
    return time.perf_counter() - started


def make_file(directory, size):
    path = os.path.join(directory, "bench-upload.mp4")
    with open(path, "wb") as f:
        f.write(MP4_HEADER)
        left = size - len(MP4_HEADER)
        block = os.urandom(MiB)
        while left:
            f.write(block[: min(MiB, left)])
            left -= min(MiB, left)
    return path


def ms(seconds):
    return f"{seconds * 1000:.1f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3, help="uploads per side")
    parser.add_argument("--out", help="append the section to this file")
    parser.add_argument("--target", type=float, default=1.1)
    parser.add_argument("--api-build", default="release", help="how the functions were built, for the text")
    args = parser.parse_args()
    awscli = os.environ["AWSCLI"]
    size = args.size_mib * MiB
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
                      region_name=os.environ.get("AWS_REGION", "us-east-1"),
                      config=Config(s3={"addressing_style": "path"}))

    ours, theirs, signs, completes, part_size = [], [], [], [], None
    with tempfile.TemporaryDirectory(prefix="plugs-media-bench-") as directory:
        path = make_file(directory, size)
        for run in range(args.runs):
            wall, run_signs, complete, part_size, media_id = our_flow(path, size, args.concurrency)
            ours.append(wall)
            signs += run_signs
            completes.append(complete)
            api("DELETE", f"/api/v1/events/{EVENT}/media/{media_id}")
            config = aws_config(directory, part_size, args.concurrency)
            key = f"bench/aws-cp-{run}.mp4"
            theirs.append(aws_cp(awscli, config, path, key))
            s3.delete_object(Bucket=BUCKET, Key=key)
            print(f"run {run + 1}: our flow {ours[-1]:.2f} s, aws s3 cp {theirs[-1]:.2f} s", file=sys.stderr)

    ratio = statistics.median(ours) / statistics.median(theirs)
    verdict = "met" if ratio <= args.target else "**missed**"
    parts = -(-size // part_size)
    aws_version = subprocess.run([awscli, "--version"], capture_output=True, text=True).stdout.strip()
    section = f"""
## Multipart upload of {args.size_mib} MiB: our flow against `aws s3 cp`

The same file to the same local S3 (SeaweedFS), {parts} parts of {part_size // MiB} MiB, {args.concurrency} at a time on
both sides, SSE-AES256 on both, {args.runs} runs each, alternating. Our flow: create-multipart-upload,
one sign-multipart-parts call per part, the PUTs to the presigned URLs, complete-multipart-upload
(`scripts/bench_multipart.py`, Python threads with keep-alive connections), against the functions
under `cargo lambda watch` ({args.api_build} build). `{aws_version}` with multipart_chunksize and
max_concurrent_requests set to the same values.

| upload | median s | min s | max s |
| --- | ---: | ---: | ---: |
| our flow (create, sign, parts, complete) | {statistics.median(ours):.2f} | {min(ours):.2f} | {max(ours):.2f} |
| `aws s3 cp` | {statistics.median(theirs):.2f} | {min(theirs):.2f} | {max(theirs):.2f} |

Ratio (median, ours / aws s3 cp): {ratio:.2f}× — target ≤ {args.target}×: {verdict}.

The API's part, as the client sees it (a loopback round trip through `cargo lambda watch`):

| call | count | median ms | p90 ms | max ms |
| --- | ---: | ---: | ---: | ---: |
| sign (one part per call) | {len(signs)} | {ms(statistics.median(signs))} | {ms(statistics.quantiles(signs, n=10)[-1])} | {ms(max(signs))} |
| complete ({parts} parts) | {len(completes)} | {ms(statistics.median(completes))} | – | {ms(max(completes))} |
"""
    print(section)
    if args.out:
        with open(args.out, "a") as f:
            f.write(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
