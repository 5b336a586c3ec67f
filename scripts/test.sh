#!/usr/bin/env bash
# Runs every test: unit tests, integration tests against a real PostgreSQL and a real
# S3-compatible server (SeaweedFS), then the spec's flow with curl against the real function
# binaries under `cargo lambda watch`. Installs what is missing; leaves no process behind.
#
# Uses DATABASE_URL / AWS_ENDPOINT_URL_S3 (+ AWS keys) when given instead of starting its own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ensure_tools
log "building the workspace"
cargo build --workspace --locked

trap stack_stop EXIT
trap 'exit 130' INT TERM
stack_start "$REPO_ROOT/.local/test-stack"
source "$STACK_DIR/env"

log "unit and integration tests"
cargo test --workspace --locked

log "end-to-end: the spec's curl flow against cargo lambda watch"
export MAX_FILE_SIZE=2097152   # small, so the 413 path is exercised through API Gateway's shape
create_bucket plugs-bucket
prepare_demo_database
port=$(free_port)
start_api "$port" "$STACK_DIR/api.log"
API_URL="http://127.0.0.1:$port" python3 "$REPO_ROOT/scripts/e2e.py" \
  || { log "cargo lambda watch log:"; tail -n 60 "$STACK_DIR/api.log" >&2; exit 1; }
