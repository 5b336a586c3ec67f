#!/usr/bin/env python3
"""Concurrency through the real binaries: 50 uploads to one event at once, with deletes and
double completes of direct uploads running alongside, against `cargo lambda watch` (several
instances per function, like Lambda containers). Then: every success has exactly one row and
one object, no two uploads share a key, and the event's listing matches the bucket.

Reads API_URL, CONC_EVENT_ID, CONC_TOKEN, AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and S3_BUCKET_NAME from the environment (scripts/test.sh sets them).
"""

import atexit
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

API = os.environ["API_URL"].rstrip("/")
EVENT = os.environ["CONC_EVENT_ID"]
TOKEN = os.environ["CONC_TOKEN"]
S3 = os.environ["AWS_ENDPOINT_URL_S3"].rstrip("/")
BUCKET = os.environ.get("S3_BUCKET_NAME", "plugs-bucket")
AUTH = f"Authorization: Bearer {TOKEN}"
MEDIA = f"{API}/api/v1/events/{EVENT}/media"
WORK = tempfile.mkdtemp(prefix="plugs-media-concurrency-")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
results = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    results["passed" if condition else "failed"] += 1
    print(f"{'ok   ' if condition else 'FAIL '} {name} {'' if condition else detail}")


def curl(*args):
    """Status and body of one curl call."""
    out = subprocess.run(["curl", "-sS", "--max-time", "120", "-w", "\n%{http_code}", *args],
                         capture_output=True, check=True).stdout
    body, _, status = out.rpartition(b"\n")
    return int(status), body


def jpeg(path, size, seed):
    with open(path, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        f.write(bytes((seed + i) % 251 for i in range(size - 20)))
    return path


def upload(i):
    return curl("-X", "POST", MEDIA, "-H", AUTH, "-F", f"file=@{jpeg(os.path.join(WORK, f'u{i}.jpg'), 20_000, i)}")


def delete(media_id):
    return curl("-X", "DELETE", f"{MEDIA}/{media_id}", "-H", AUTH)


def complete(upload_id):
    return curl("-X", "POST", f"{MEDIA}/uploads/{upload_id}/complete", "-H", AUTH)


def direct_upload_ready(i):
    """A direct upload whose bytes are in S3, waiting for its complete."""
    path = jpeg(os.path.join(WORK, f"d{i}.jpg"), 30_000, 100 + i)
    status, body = curl("-X", "POST", f"{MEDIA}/uploads", "-H", AUTH, "-H", "Content-Type: application/json",
                        "-d", json.dumps({"filename": f"d{i}.jpg", "content_type": "image/jpeg", "file_size": 30_000}))
    ticket = json.loads(body)
    headers = [a for k, v in ticket["headers"].items() if k != "content-length" for a in ("-H", f"{k}: {v}")]
    put_status, _ = curl("-X", "PUT", *headers, "--upload-file", path, ticket["url"])
    assert status == 201 and put_status == 200, (status, put_status)
    return ticket["upload_id"]


def bucket_keys(prefix):
    """Every key under prefix, with curl's own SigV4 (following continuation tokens)."""
    keys, token = [], None
    while True:
        # curl signs the query as written: encode it fully and keep the keys sorted.
        params = {"list-type": "2", "prefix": prefix, **({"continuation-token": token} if token else {})}
        query = "&".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in sorted(params.items()))
        status, body = curl("--aws-sigv4", "aws:amz:us-east-1:s3",
                            "--user", f"{os.environ['AWS_ACCESS_KEY_ID']}:{os.environ['AWS_SECRET_ACCESS_KEY']}",
                            f"{S3}/{BUCKET}?{query}")
        assert status == 200, body[:300]
        text = body.decode()
        keys += re.findall(r"<Key>([^<]+)</Key>", text)
        match = re.search(r"<NextContinuationToken>([^<]+)</NextContinuationToken>", text)
        if not match:
            return keys
        token = match.group(1)


def main():
    doomed = [json.loads(upload(1000 + i)[1])["id"] for i in range(10)]
    waiting = [direct_upload_ready(i) for i in range(10)]

    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        uploads = [pool.submit(upload, i) for i in range(50)]
        deletes = [pool.submit(delete, media_id) for media_id in doomed]
        completes = [(upload_id, pool.submit(complete, upload_id), pool.submit(complete, upload_id))
                     for upload_id in waiting]
        uploaded = [f.result() for f in uploads]
        deleted = [f.result() for f in deletes]
        completed = [(u, a.result(), b.result()) for u, a, b in completes]

    statuses = sorted(s for s, _ in uploaded)
    check("50 concurrent uploads all answer 201", statuses == [201] * 50, statuses)
    keys = [json.loads(b)["s3_key"] for s, b in uploaded if s == 201]
    check("no two uploads share a key", len(set(keys)) == len(keys), len(keys))
    check("10 concurrent deletes answer 204", [s for s, _ in deleted] == [204] * 10, [s for s, _ in deleted])
    pairs_ok = all(sorted((a[0], b[0])) == [200, 201] and json.loads(a[1])["id"] == json.loads(b[1])["id"] == u
                   for u, a, b in completed)
    check("each upload completed twice at once: one 201, one 200, one media", pairs_ok,
          [(a[0], b[0]) for _, a, b in completed])

    status, body = curl(f"{MEDIA}?limit=1000", "-H", AUTH)
    check("the listing answers 200", status == 200, body[:300])
    # The JSON body is escaped once more inside the Lambda response: Lambda caps that at
    # 6 MiB + 100 bytes, which `cargo lambda watch` does not enforce.
    escaped = len(json.dumps(body.decode("utf-8", "replace"), ensure_ascii=False).encode())
    check("the listing fits Lambda's response limit", escaped <= 6 * 1024 * 1024 + 100, escaped)
    listed = {m["s3_key"] for m in json.loads(body)} if status == 200 else set()
    stored = set(bucket_keys(f"events/{EVENT}/"))
    check("the listing has every upload and completed upload, and no deleted media",
          set(keys) <= listed and len(listed) == 60, len(listed))
    check("the bucket holds exactly the listed objects", stored == listed,
          {"only in bucket": sorted(stored - listed)[:5], "only listed": sorted(listed - stored)[:5]})
    leftovers = bucket_keys("temp/")
    check("no temp object is left behind", leftovers == [], leftovers)

    print(f"concurrency: {results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
