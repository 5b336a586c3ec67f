#!/usr/bin/env bash
# Runs every test: the offline deployment checks (SAM template, OpenAPI, one route table),
# unit tests, integration tests against a real PostgreSQL and a real S3-compatible server
# (SeaweedFS) once per shape of The Plugs' schema (seed era and current), then the spec's
# flow with curl against the real function binaries under `cargo lambda watch`, every
# function invoked with its fixture through `cargo lambda invoke`, a soak through it (no
# answer may be lost), schemathesis over openapi.yaml against the same API, and the benchmark
# harness in smoke mode. Installs what is missing; leaves no process behind, and no
# PostgreSQL cluster of the machine stopped (scripts/test-apt-install.sh checks that).
#
# Uses DATABASE_URL / AWS_ENDPOINT_URL_S3 (+ AWS keys) when given instead of starting its own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ensure_tools
ensure_browser
if [ "$(id -u)" = 0 ] && command -v pg_createcluster >/dev/null; then
  log "apt_install leaves the machine's PostgreSQL clusters as it found them"
  "$REPO_ROOT/scripts/test-apt-install.sh"
else
  log "skipping scripts/test-apt-install.sh: it needs root and postgresql-common"
fi

log "building the workspace"
cargo build --workspace --locked

log "clippy: no warnings in any target"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "deployment checks (offline)"
"$REPO_ROOT/scripts/check-deploy.sh"

# The integration tests once more, every database built in The Plugs' seed-era shape (the
# run below builds them in the current shape). A stack of its own: one SeaweedFS runs out of
# volumes for both runs' buckets.
log "integration tests on The Plugs' seed-era schema (PLUGS_SCHEMA=seed)"
(
  trap stack_stop EXIT
  stack_start "$REPO_ROOT/.local/test-stack-seed"
  source "$STACK_DIR/env"
  PLUGS_SCHEMA=seed cargo test --locked -p shared --test integration
)

trap stack_stop EXIT
trap 'exit 130' INT TERM
stack_start "$REPO_ROOT/.local/test-stack"
source "$STACK_DIR/env"

log "unit and integration tests, on The Plugs' current schema (PLUGS_SCHEMA=current)"
PLUGS_SCHEMA=current cargo test --workspace --locked

log "end-to-end: the spec's curl flow against cargo lambda watch"
export MAX_FILE_SIZE=16777216   # room for the 12 MiB direct upload
prepare_demo_database
# The browser test serves examples/ from this port; the bucket must accept its origin.
export EXAMPLES_PORT=$(free_port)
prepare_local_bucket plugs-bucket "$EXAMPLES_PORT"
port=$(free_port)
start_api "$port" "$STACK_DIR/api.log"
export API_URL="http://127.0.0.1:$port"
python3 "$REPO_ROOT/scripts/e2e.py" \
  || { log "cargo lambda watch log:"; tail -n 60 "$STACK_DIR/api.log" >&2; exit 1; }

log "cargo lambda invoke: each function of the registry with its fixture, against the same API"
python3 "$REPO_ROOT/scripts/invoke_fixtures.py" "$STACK_DIR/events" \
  || { log "cargo lambda watch log:"; tail -n 60 "$STACK_DIR/api.log" >&2; exit 1; }

log "concurrency: 50 uploads with deletes and double completes, through the binaries"
seeded=$("$REPO_ROOT/target/debug/plugs-media" seed-demo --email concurrency@example.com)
export CONC_EVENT_ID=$(printf '%s\n' "$seeded" | sed -n 's/^EVENT_ID=//p')
export CONC_TOKEN=$("$REPO_ROOT/target/debug/plugs-media" dev-token --user-id "$(printf '%s\n' "$seeded" | sed -n 's/^USER_ID=//p')")
python3 "$REPO_ROOT/scripts/concurrency.py" \
  || { log "cargo lambda watch log:"; tail -n 60 "$STACK_DIR/api.log" >&2; exit 1; }

log "soak: 300 sequential 1 MiB downloads and 300 listings through cargo lambda watch, none lost"
seeded=$("$REPO_ROOT/target/debug/plugs-media" seed-demo --email soak@example.com)
export SOAK_EVENT_ID=$(printf '%s\n' "$seeded" | sed -n 's/^EVENT_ID=//p')
export SOAK_TOKEN=$("$REPO_ROOT/target/debug/plugs-media" dev-token --user-id "$(printf '%s\n' "$seeded" | sed -n 's/^USER_ID=//p')")
python3 "$REPO_ROOT/scripts/soak.py" \
  || { log "cargo lambda watch log:"; tail -n 60 "$STACK_DIR/api.log" >&2; exit 1; }

log "schemathesis: openapi.yaml against the running API (--checks all, bounded to 3 minutes)"
API_LOG="$STACK_DIR/api.log" "$REPO_ROOT/scripts/schemathesis.sh" \
  || { log "cargo lambda watch log:"; tail -n 60 "$STACK_DIR/api.log" >&2; exit 1; }

log "browser: examples/direct-upload.html in headless Chromium"
"$VENV/bin/python" "$REPO_ROOT/scripts/browser_test.py" \
  || { log "cargo lambda watch log:"; tail -n 60 "$STACK_DIR/api.log" >&2; exit 1; }

log "benchmark harness, smoke mode: every measurement path, a few iterations (numbers not judged)"
cargo test --locked -p plugs-media-bench --benches
"$REPO_ROOT/target/debug/plugs-media-bench" --smoke --bin-dir "$REPO_ROOT/target/debug"
