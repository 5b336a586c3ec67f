#!/usr/bin/env bash
# The benchmarks, in one command: builds every function and the harness in release, packages
# each function as Lambda would take it (the binary zipped as `bootstrap`), runs the criterion
# micro-benchmarks, starts PostgreSQL and SeaweedFS on loopback, then measures cold starts,
# warm latency against the floor and the memory of an upload in one run, prints the table and
# writes bench/RESULTS.md; then serves the functions (release) under `cargo lambda watch` and
# adds a 1 GiB multipart upload through the API's flow against `aws s3 cp` of the same file
# (BENCH_MULTIPART_MIB changes the size). Leaves no process behind.
#
# Uses DATABASE_URL / AWS_ENDPOINT_URL_S3 (+ AWS keys) when given instead of starting its own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ensure_tools
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
build="release profile (${profile:-Cargo defaults}), $(rustc -V), $(rustc -vV | sed -n 's/^host: //p')"

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
