#!/usr/bin/env bash
# Runs every test: the offline deployment checks (SAM template, OpenAPI, one route table),
# unit tests, integration tests against a real PostgreSQL and a real S3-compatible server
# (SeaweedFS), then the spec's flow with curl against the real function binaries under
# `cargo lambda watch`, every function invoked with its fixture through `cargo lambda invoke`,
# concurrent uploads and deletes, a soak through it (no answer may be lost) and schemathesis
# over openapi.yaml against the same API: all of it once per shape of The Plugs' schema
# (PLUGS_SCHEMA=seed, then current; the seed run's soak is shorter; the current run reaches the
# database through PgBouncer in transaction mode and adds a 20 s load). Then the browser tests
# (examples/direct-upload.html; examples/uppy-upload.html with a paused, resumed and interrupted
# multipart upload) and the benchmark harness in smoke mode. Installs what is missing; leaves no process behind, and no
# PostgreSQL cluster of the machine stopped (scripts/test-apt-install.sh checks that).
#
# Uses DATABASE_URL / AWS_ENDPOINT_URL_S3 (+ AWS keys) when given instead of starting its own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ensure_tools
ensure_browser
ensure_examples_packages
ensure_image_tools
if [ "$(id -u)" = 0 ] && command -v pg_createcluster >/dev/null; then
  log "apt_install leaves the machine's PostgreSQL clusters as it found them"
  "$REPO_ROOT/scripts/test-apt-install.sh"
else
  log "skipping scripts/test-apt-install.sh: it needs root and postgresql-common"
fi

# How long each step took, in a file so the seed run's subshell adds to it too; printed at
# the end (README "Tests" quotes these numbers).
TIMINGS="$REPO_ROOT/.local/test-timings"
mkdir -p "$REPO_ROOT/.local"
: >"$TIMINGS"
timed() { # timed NAME COMMAND...
  local name=$1 started=$SECONDS; shift
  "$@"
  printf '%4ss  %s\n' "$((SECONDS - started))" "$name" >>"$TIMINGS"
}
print_timings() {
  log "time per step (the seed steps are what the second shape costs)"
  cat "$TIMINGS" >&2
}

log "building the workspace"
timed "build" cargo build --workspace --locked

log "clippy: no warnings in any target"
timed "clippy" cargo clippy --workspace --all-targets --locked -- -D warnings

log "deployment checks (offline)"
timed "deployment checks" "$REPO_ROOT/scripts/check-deploy.sh"

# The functions served by `cargo lambda watch` on the stack in $STACK_DIR, on a database built
# in the shape PLUGS_SCHEMA names (prepare_demo_database); sets API_URL.
serve_demo_api() {
  export MAX_FILE_SIZE=16777216   # room for the 12 MiB direct upload
  prepare_demo_database
  # The browser test serves examples/ from this port; the bucket must accept its origin.
  export EXAMPLES_PORT=$(free_port)
  prepare_local_bucket plugs-bucket "$EXAMPLES_PORT"
  local port
  port=$(free_port)
  start_api "$port" "$STACK_DIR/api.log"
  export API_URL="http://127.0.0.1:$port"
}

# A check against the running API; on failure, the end of the functions' log.
against_api() { # against_api COMMAND...
  "$@" || { log "cargo lambda watch log:"; tail -n 60 "$STACK_DIR/api.log" >&2; return 1; }
}

# A fresh organiser and event; exports <PREFIX>_EVENT_ID and <PREFIX>_TOKEN.
seed_organiser() { # seed_organiser PREFIX EMAIL
  local seeded cli="$REPO_ROOT/target/debug/plugs-media"
  seeded=$("$cli" seed-demo --email "$2")
  export "$1_EVENT_ID=$(printf '%s\n' "$seeded" | sed -n 's/^EVENT_ID=//p')"
  export "$1_TOKEN=$("$cli" dev-token --user-id "$(printf '%s\n' "$seeded" | sed -n 's/^USER_ID=//p')")"
}

e2e() { API_LOG="$STACK_DIR/api.log" against_api "$VENV/bin/python" "$REPO_ROOT/scripts/e2e.py"; }
invoke_fixtures() { against_api python3 "$REPO_ROOT/scripts/invoke_fixtures.py" "$STACK_DIR/events"; }
concurrency() {
  seed_organiser CONC concurrency@example.com
  against_api python3 "$REPO_ROOT/scripts/concurrency.py"
}
soak() {
  seed_organiser SOAK soak@example.com
  against_api python3 "$REPO_ROOT/scripts/soak.py"
}
load() {
  seed_organiser LOAD load@example.com
  API_LOG="$STACK_DIR/api.log" S3_BUCKET_NAME=plugs-bucket against_api "$VENV/bin/python" "$REPO_ROOT/scripts/load.py"
}
schemathesis() { API_LOG="$STACK_DIR/api.log" against_api "$REPO_ROOT/scripts/schemathesis.sh"; }
browser() { against_api "$VENV/bin/python" "$REPO_ROOT/scripts/browser_test.py"; }
uppy() { S3_BUCKET_NAME=plugs-bucket against_api "$VENV/bin/python" "$REPO_ROOT/scripts/uppy_browser_test.py"; }
multipart_bench_smoke() {
  seed_organiser BENCH bench@example.com
  ensure_awscli
  AWSCLI=$AWSCLI S3_BUCKET_NAME=plugs-bucket against_api "$VENV/bin/python" \
    "$REPO_ROOT/scripts/bench_multipart.py" --size-mib 16 --runs 1 --concurrency 4 --api-build debug
}
previews_bench_smoke() {
  seed_organiser PREVIEW previews@example.com
  against_api "$VENV/bin/python" "$REPO_ROOT/scripts/bench_previews.py" --smoke --render "$REPO_ROOT/target/debug/render-preview"
}
gallery() {
  seed_organiser GALLERY gallery@example.com
  GALLERY_OUTPUT="$REPO_ROOT/.local/gallery-test" against_api "$VENV/bin/python" "$REPO_ROOT/scripts/gallery_test.py"
}

# The second shape first: The Plugs' seed era, on a stack of its own (one SeaweedFS runs out
# of volumes for both runs' buckets). Every integration and CLI test database is built in it
# (the run below builds them in the current shape), and the API checks whose SQL differs per
# shape run once more through the binaries on a demo database in it: the spec's flow, every
# fixture, concurrent uploads and deletes, schemathesis, and a shorter soak. The browser test
# and the benchmark do not depend on the shape and run once.
(
  export PLUGS_SCHEMA=seed
  # A demo database of its own, should DATABASE_URL point both runs at one server.
  export DEMO_DATABASE=plugs_media_seed
  trap stack_stop EXIT
  stack_start "$REPO_ROOT/.local/test-stack-seed"
  source "$STACK_DIR/env"
  log "integration and CLI tests on The Plugs' seed-era schema (PLUGS_SCHEMA=seed)"
  timed "seed: integration tests" cargo test --locked -p shared --test integration
  timed "seed: CLI tests" cargo test --locked -p plugs-media --tests
  log "the API through cargo lambda watch on the seed-era schema"
  timed "seed: demo database and cargo lambda watch" serve_demo_api
  timed "seed: e2e" e2e
  timed "seed: cargo lambda invoke" invoke_fixtures
  timed "seed: concurrency" concurrency
  SOAK_REQUESTS=100 timed "seed: soak (100 requests)" soak
  timed "seed: schemathesis" schemathesis
)

# The current shape's stack puts PgBouncer (1.18, transaction mode) between the functions and
# PostgreSQL, as RDS Proxy would be: the integration and CLI tests' functions and every API
# check below reach the database through it, so a named prepared statement fails them.
export PLUGS_SCHEMA=current
trap 'print_timings; stack_stop' EXIT
trap 'exit 130' INT TERM
STACK_PGBOUNCER=1 stack_start "$REPO_ROOT/.local/test-stack"
source "$STACK_DIR/env"

log "unit and integration tests, on The Plugs' current schema (PLUGS_SCHEMA=current), through PgBouncer"
timed "current: unit, integration and CLI tests" cargo test --workspace --locked

log "end-to-end: the spec's curl flow against cargo lambda watch, on The Plugs' current schema"
timed "current: demo database and cargo lambda watch" serve_demo_api
timed "current: e2e" e2e

log "cargo lambda invoke: each function of the registry with its fixture, against the same API"
timed "current: cargo lambda invoke" invoke_fixtures

log "concurrency: 50 uploads with deletes and double completes, through the binaries"
timed "current: concurrency" concurrency

log "soak: 300 sequential 1 MiB downloads and 300 listings through cargo lambda watch, none lost"
timed "current: soak" soak

log "load: 50 clients for 20 s (upload, get, list, delete) through PgBouncer; no 5xx but 503 SERVICE_BUSY, consistent after"
timed "current: load through PgBouncer" load

log "schemathesis: openapi.yaml against the running API (--checks all, bounded to 3 minutes)"
timed "current: schemathesis" schemathesis

log "browser: examples/direct-upload.html in headless Chromium"
timed "browser" browser

log "uppy: examples/uppy-upload.html in headless Chromium, one PUT, then 64 MiB in parts: paused, resumed, S3 refusing for a moment"
timed "uppy" uppy
log "browser: examples/gallery.html in headless Chromium (uploads, thumbs, an EXIF-rotated photo upright, no GPS in previews by exiftool)"
timed "browser: gallery" gallery

log "benchmark harness, smoke mode: every measurement path, a few iterations (numbers not judged)"
timed "bench: criterion benches once" cargo test --locked -p plugs-media-bench --benches
timed "bench: smoke" "$REPO_ROOT/target/debug/plugs-media-bench" --smoke --bin-dir "$REPO_ROOT/target/debug"
timed "bench: multipart smoke (16 MiB, our flow and aws s3 cp)" multipart_bench_smoke
timed "bench: previews smoke" previews_bench_smoke
