#!/usr/bin/env python3
"""Invokes every function of the endpoint registry with its fixture, through
`cargo lambda invoke` against the running `cargo lambda watch` (API_URL), as a developer does
against scripts/dev.sh.

`plugs-media dev-fixtures` names the functions and their fixtures (from the registry, so a
new function is invoked without editing this script), seeds what the fixtures point at and
writes ready copies under OUT_DIR. It runs again before each invocation: what a fixture
consumes (delete-media's media item) is back for the next one, whatever the order.

Usage: API_URL=http://127.0.0.1:PORT [PLUGS_SCHEMA=seed] scripts/invoke_fixtures.py OUT_DIR
(PLUGS_SCHEMA=seed: the stack is of The Plugs' seed era, where some answers differ.)
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
CLI = REPO / "target" / "debug" / "plugs-media"
CARGO_LAMBDA = REPO / ".venv" / "bin" / "cargo-lambda"

# What each fixture answers against the seeded stack. A function missing here must still
# answer a success (below 400); list it to pin its status.
EXPECTED_STATUS = {
    "upload-media": 201,  # a new media item in the fixture event
    "list-media": 200,
    "get-media": 200,
    "download-media": 200,  # the seeded 1×1 PNG is small: its bytes come back inline
    "stream-media": 302,  # a presigned URL
    "delete-media": 204,
    "create-upload": 201,
    # The upload id is the seeded media item's id and no pending upload has it: the answer
    # of a repeated complete, the media item with 200.
    "complete-upload": 200,
    # The zone fixtures name a zone dev-fixtures seeds with one PNG (on the seed-era schema,
    # the seeded media item itself); delete-zone consumes it, and the next seeding restores it.
    "list-zones": 200,
    "get-zone": 200,
    "update-zone": 200,
    "delete-zone": 204,
    # Two PNGs into the zone of the seeded media item (its id is the zone's id); on the
    # seed-era schema a zone is one media item and takes no more files: ZONES_UNAVAILABLE.
    # The seeded 1×1 PNG's thumb: made on the first call, then a redirect to it.
    "preview-media": 302,
    "add-zone-files": 409 if os.environ.get("PLUGS_SCHEMA") == "seed" else 201,
    "create-multipart-upload": 201,
    # The upload id is the seeded media item's id, which no open resumable upload has: sign,
    # list and abort find none; complete answers the media item, as a repeated complete does.
    "sign-multipart-parts": 404,
    "list-multipart-parts": 404,
    "complete-multipart-upload": 200,
    "abort-multipart-upload": 404,
}
if os.environ.get("PLUGS_SCHEMA") == "seed":
    # The seed era's zone is one media item, which takes no more files: 409 ZONES_UNAVAILABLE.
    EXPECTED_STATUS["add-zone-files"] = 409


def ready_fixtures(out_dir):
    """[(function, path)] of the registry, with what the fixtures need seeded."""
    listed = subprocess.run(
        [CLI, "dev-fixtures", "--events-dir", REPO / "events", "--out", out_dir],
        check=True, capture_output=True, text=True,
    ).stdout
    return [tuple(line.split(" ", 1)) for line in listed.splitlines()]


def invoke(function, path, address, port):
    """The function's answer (a JSON value); raises when the invocation itself fails."""
    done = subprocess.run(
        [CARGO_LAMBDA, "lambda", "invoke", function, "--invoke-address", address,
         "--invoke-port", str(port), "--data-file", path, "--output-format", "json"],
        capture_output=True, text=True, timeout=120,
    )
    if done.returncode != 0:
        raise AssertionError(f"cargo lambda invoke failed ({done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout)


def problem_with(function, answer):
    """Why this answer is wrong, or None."""
    if not isinstance(answer, dict):
        return f"answered {answer!r}"
    if "errorType" in answer or "errorMessage" in answer:
        return f"failed: {answer}"
    if "statusCode" not in answer:
        # Not behind a route (the sweep): any answer that is not an error will do.
        return None
    status = answer["statusCode"]
    wanted = EXPECTED_STATUS.get(function)
    if wanted is None and status < 400 or status == wanted:
        return None
    return f"answered {status}, expected {wanted or 'below 400'}: {answer.get('body', '')[:300]}"


def main():
    out_dir = sys.argv[1]
    api = urlsplit(os.environ["API_URL"])
    functions = ready_fixtures(out_dir)
    failures = 0
    started = time.monotonic()
    for function, path in functions:
        ready_fixtures(out_dir)
        try:
            problem = problem_with(function, invoke(function, path, api.hostname, api.port))
        except (AssertionError, json.JSONDecodeError, subprocess.TimeoutExpired) as err:
            problem = str(err)
        relative = os.path.relpath(path, REPO)
        if problem:
            failures += 1
            print(f"FAIL {function:<16} {relative}: {problem}")
        else:
            print(f"ok   {function:<16} {relative}")
    print(f"{len(functions)} functions invoked in {time.monotonic() - started:.1f} s, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
