#!/usr/bin/env bash
# The benchmarks, in one command: builds every function and the harness in release, packages
# each function as Lambda would take it (the binary zipped as `bootstrap`), runs the criterion
# micro-benchmarks, starts PostgreSQL and SeaweedFS on loopback, then measures cold starts,
# warm latency against the floor and the memory of an upload in one run, prints the table and
# writes bench/RESULTS.md; then serves the functions (release) under `cargo lambda watch` and
# adds a 1 GiB multipart upload through the API's flow against `aws s3 cp` of the same file
# (BENCH_MULTIPART_MIB changes the size); then the previews (scripts/bench_previews.py: our
# render against libvips' vipsthumbnail on the same files, and a preview URL's first and cached
# request through `cargo lambda watch` beside the download redirect), added to it. Leaves no
# process behind.
#
# Then the load with a database restart (load_with_restart below), twice: through PgBouncer
# and straight to PostgreSQL; its tables go into bench/RESULTS.md too.
# `./scripts/bench.sh --load-only` runs only that step and replaces its section of the file.
#
# Uses DATABASE_URL / AWS_ENDPOINT_URL_S3 (+ AWS keys) when given instead of starting its own
# (not for the load with a restart, which needs a PostgreSQL of its own to restart).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ensure_tools

# The endpoints the caller gave, before a stack's env is sourced below: the load with a
# restart starts a stack of its own and must not inherit the first stack's (stopped by then).
given_s3=${AWS_ENDPOINT_URL_S3:-}
given_secrets_manager=${AWS_ENDPOINT_URL_SECRETS_MANAGER:-}

# 200 clients for 60 s (upload of a small PNG, get, list, delete: scripts/load.py) against the
# function binaries, 12 processes per function started up front by scripts/lambda_pool.py (48
# in the run, each with its pool of one connection: more than the database's 20; cargo lambda
# watch starts its instances on demand through `cargo run` and stalls under 200 clients, see
# that script), PostgreSQL limited to
# max_connections=20 and restarted (fast) 30 s in. With PgBouncer (1.18, transaction mode,
# 10 server connections, queries wait at most 3 s for one, a failed server login retried after
# 1 s) or straight to PostgreSQL. Debug binaries, as the tests run them: the point is the
# behaviour through the restart, not the speed. Writes the run's Markdown to REPORT.
load_with_restart() { # load_with_restart pgbouncer|direct REPORT
  local mode=$1 report=$2 port label
  (
    export PG_MAX_CONNECTIONS=20
    if [ "$mode" = pgbouncer ]; then
      export STACK_PGBOUNCER=1 PGBOUNCER_POOL_SIZE=10 PGBOUNCER_QUERY_WAIT_TIMEOUT=3 PGBOUNCER_SERVER_LOGIN_RETRY=1
      label="through PgBouncer 1.18 (transaction mode, default_pool_size 10) to PostgreSQL with max_connections=20"
    else
      label="straight to PostgreSQL with max_connections=20 (no pooler)"
    fi
    unset DATABASE_URL AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_SECRETS_MANAGER PLUGS_TEST_DATABASE_PROXY
    [ -z "$given_s3" ] || export AWS_ENDPOINT_URL_S3=$given_s3
    [ -z "$given_secrets_manager" ] || export AWS_ENDPOINT_URL_SECRETS_MANAGER=$given_secrets_manager
    trap 'stack_stop; rm -rf "$REPO_ROOT/.local/bench-load-stack"' EXIT
    stack_start "$REPO_ROOT/.local/bench-load-stack"
    source "$STACK_DIR/env"
    prepare_demo_database >/dev/null
    prepare_local_bucket plugs-bucket "$(free_port)"
    port=$(free_port)
    start_api_pool "$port" "$STACK_DIR/api.log" 12 "$REPO_ROOT/target/debug" \
      upload-media get-media list-media delete-media
    export API_URL="http://127.0.0.1:$port"
    local seeded cli="$REPO_ROOT/target/debug/plugs-media"
    seeded=$("$cli" seed-demo --email "load-$mode@example.com")
    export LOAD_EVENT_ID=$(printf '%s\n' "$seeded" | sed -n 's/^EVENT_ID=//p')
    export LOAD_TOKEN=$("$cli" dev-token --user-id "$(printf '%s\n' "$seeded" | sed -n 's/^USER_ID=//p')")
    log "load with a restart, $label"
    LOAD_CLIENTS=200 LOAD_SECONDS=60 LOAD_RESTART_AT=30 LOAD_LABEL="$label" LOAD_REPORT="$report" \
      LOAD_RESTART_COMMAND="source '$REPO_ROOT/scripts/lib.sh'; STACK_DIR='$STACK_DIR' restart_postgres" \
      LOAD_BEFORE_CHECK_COMMAND="source '$REPO_ROOT/scripts/lib.sh'; STACK_DIR='$STACK_DIR' stop_api" \
      LOAD_CHECK_DATABASE_URL="$DATABASE_URL" \
      API_LOG="$STACK_DIR/api.log" S3_BUCKET_NAME=plugs-bucket \
      "$VENV/bin/python" "$REPO_ROOT/scripts/load.py" || log "the load with a restart ($mode) failed its checks"
  )
}

# Puts the two runs' Markdown into bench/RESULTS.md, in place of the section a previous run
# left there (or at the end).
write_load_section() { # write_load_section PGBOUNCER_REPORT DIRECT_REPORT
  "$VENV/bin/python" - "$REPO_ROOT/bench/RESULTS.md" "$1" "$2" "$(date -u '+%Y-%m-%d %H:%M UTC')" <<'PY'
import sys
results, through, direct, when = sys.argv[1:]
begin, end = "<!-- load-with-restart -->", "<!-- /load-with-restart -->"
section = "\n".join([
    begin,
    "## Load with a database restart: 200 clients for 60 s",
    "",
    f"`./scripts/bench.sh` (or `--load-only`), {when}. `scripts/load.py`: 200 clients, each looping "
    "upload (a 1x1 PNG) → get → list (100 per page) → delete every other own upload, through the "
    "function binaries (debug build), 12 processes per function started up front by "
    "`scripts/lambda_pool.py` (48 processes, one connection each), PostgreSQL limited to `max_connections=20` and "
    "restarted with `pg_ctl restart -m fast` 30 s in. Allowed: 503 SERVICE_BUSY with Retry-After; "
    "not allowed: any other 5xx, a lost answer, a row without its object or an object without its row.",
    "",
    "What the two runs show. Through PgBouncer the 48 processes share its 10 server connections: a request waits in its queue (at most `query_wait_timeout`, 3 s here) instead of taking a slot of its own, and the restart costs about a second of 503s (the transactions it cut, and PgBouncer's refusals while PostgreSQL is down), after which every endpoint answers 2xx again. Straight to PostgreSQL, each process keeps its one connection while idle, so the first 20 to connect hold every slot and the others answer 503 at once (53300 `too many clients`) for the whole run, before and after the restart: nothing waits, nothing answers 500, nothing is half-written, but an endpoint whose processes lost the race serves nobody (RDS Proxy in front of RDS is the production answer: `DatabaseProxyEndpoint`). Latencies include the wait for a free function process (200 clients, 48 processes) in `scripts/lambda_pool.py`, which runs on the same 2 cores as everything else.",
    "",
    open(through).read().strip(),
    "",
    open(direct).read().strip(),
    end,
])
text = open(results).read()
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    text = head + section + rest.split(end, 1)[1]
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(results, "w").write(text)
PY
}

load_step() {
  log "building the CLI and the functions (debug)"
  cargo build --locked -p plugs-media -p test-support -p upload-media -p get-media -p list-media -p delete-media
  local reports
  reports=$(mktemp -d)
  load_with_restart pgbouncer "$reports/pgbouncer.md"
  load_with_restart direct "$reports/direct.md"
  write_load_section "$reports/pgbouncer.md" "$reports/direct.md"
  rm -rf "$reports"
}

if [ "${1:-}" = --load-only ]; then
  load_step
  exit 0
fi
target_dir=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
functions=()
for dir in functions/*/; do functions+=("$(basename "$dir")"); done
packages=()
for name in "${functions[@]}" plugs-media-bench; do packages+=(-p "$name"); done

log "building the functions and the harness (release)"
cargo build --release --locked "${packages[@]}"
# The CLI and plugs-schema set up the multipart benchmark's demo database (as for scripts/dev.sh).
cargo build --locked -p plugs-media -p test-support --bins

log "packaging: each binary zipped as bootstrap"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for name in "${functions[@]}"; do
  python3 - "$target_dir/release/$name" "$work/$name.zip" <<'EOF' >>"$work/packages.tsv"
import os, sys, zipfile
binary, archive = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo("bootstrap")
info.external_attr = 0o100755 << 16
info.compress_type = zipfile.ZIP_DEFLATED
with open(binary, "rb") as f, zipfile.ZipFile(archive, "w") as z:
    z.writestr(info, f.read(), compresslevel=9)
name = os.path.basename(binary)
print(f"{name}\t{os.path.getsize(binary)}\t{os.path.getsize(archive)}")
EOF
done

log "micro-benchmarks (criterion)"
# With the release profile, so the dependencies built above are reused.
cargo bench --locked --profile release -p plugs-media-bench --bench hot -- --warm-up-time 1 --measurement-time 3

# The stack's data (thousands of uploaded objects) is of no use once the run is over.
trap 'stack_stop; rm -rf "$work" "$REPO_ROOT/.local/bench-stack"' EXIT
trap 'exit 130' INT TERM
stack_start "$REPO_ROOT/.local/bench-stack"
source "$STACK_DIR/env"

profile=$(sed -n '/^\[profile\.release\]/,/^\[/{/=/p}' Cargo.toml | sed 's/ *#.*//' | paste -sd ';' - | sed 's/;/, /g')
# Per-crate overrides ([profile.release.package.NAME] opt-level = N), grouped by level.
overrides=$(awk -F'[][]' '/^\[profile\.release\.package\./ { sub(/^profile\.release\.package\./, "", $2); name = $2; next }
  name && /^opt-level/ { split($0, kv, "= *"); level[kv[2]] = level[kv[2]] (level[kv[2]] ? " " : "") name; name = "" }
  END { for (l in level) printf "%sopt-level %s for %s", (n++ ? "; " : ""), l, level[l] }' Cargo.toml)
build="release profile (${profile:-Cargo defaults}${overrides:+; $overrides}), $(rustc -V), $(rustc -vV | sed -n 's/^host: //p')"

log "cold starts, warm latency against the floor, memory"
"$target_dir/release/plugs-media-bench" \
  --bin-dir "$target_dir/release" \
  --packages "$work/packages.tsv" \
  --criterion-dir "$target_dir/criterion" \
  --out "$REPO_ROOT/bench/RESULTS.md" \
  --command "./scripts/bench.sh" \
  --build "$build"

# After the harness, which writes bench/RESULTS.md anew: its section is appended.
log "multipart: a 1 GiB upload through create, sign, parts and complete against aws s3 cp"
ensure_awscli
prepare_demo_database
prepare_local_bucket plugs-bucket "$(free_port)"
api_port=$(free_port)
API_BUILD=release start_api "$api_port" "$STACK_DIR/api.log"
API_URL="http://127.0.0.1:$api_port" BENCH_EVENT_ID=$DEMO_EVENT_ID BENCH_TOKEN=$DEMO_TOKEN AWSCLI=$AWSCLI \
  S3_BUCKET_NAME=plugs-bucket "$VENV/bin/python" "$REPO_ROOT/scripts/bench_multipart.py" \
  --size-mib "${BENCH_MULTIPART_MIB:-1024}" --out "$REPO_ROOT/bench/RESULTS.md"
stop_api

# The previews, in the same run: our render against vipsthumbnail on the same files, and a
# preview URL's first and cached request through cargo lambda watch (release builds) beside
# the download redirect. Its section is added to bench/RESULTS.md.
ensure_image_tools
log "previews: render against vipsthumbnail, preview URLs through cargo lambda watch"
# The CLI and plugs-schema set up the demo database, as for scripts/dev.sh (debug builds).
cargo build --locked -p plugs-media -p test-support --bin plugs-media --bin plugs-schema
export MAX_FILE_SIZE=67108864
prepare_demo_database
prepare_local_bucket plugs-bucket "$(free_port)"
api_port=$(free_port)
API_BUILD=release start_api "$api_port" "$STACK_DIR/api.log"
seeded=$("$target_dir/debug/plugs-media" seed-demo --email previews@example.com)
PREVIEW_EVENT_ID=$(printf '%s\n' "$seeded" | sed -n 's/^EVENT_ID=//p') \
PREVIEW_TOKEN=$("$target_dir/debug/plugs-media" dev-token --user-id "$(printf '%s\n' "$seeded" | sed -n 's/^USER_ID=//p')") \
API_URL="http://127.0.0.1:$api_port" \
  "$VENV/bin/python" scripts/bench_previews.py --render "$target_dir/release/render-preview" --out "$work/previews.md"
cat "$work/previews.md" >>"$REPO_ROOT/bench/RESULTS.md"
stop_api

# The load with a restart needs a stack of its own (a PostgreSQL it may restart): the one
# above stops first.
stack_stop
load_step
