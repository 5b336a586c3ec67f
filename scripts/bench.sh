#!/usr/bin/env bash
# The benchmarks, in one command: builds every function and the harness in release, packages
# each function as Lambda would take it (the binary zipped as `bootstrap`), runs the criterion
# micro-benchmarks, starts PostgreSQL and SeaweedFS on loopback, then measures cold starts,
# warm latency against the floor and the memory of an upload in one run, prints the table and
# writes bench/RESULTS.md; then the previews (scripts/bench_previews.py: our render against
# libvips' vipsthumbnail on the same files, and a preview URL's first and cached request
# through `cargo lambda watch` beside the download redirect), added to it. Leaves no process
# behind.
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
WATCH_RELEASE=1 start_api "$api_port" "$STACK_DIR/api.log"
seeded=$("$target_dir/debug/plugs-media" seed-demo --email previews@example.com)
PREVIEW_EVENT_ID=$(printf '%s\n' "$seeded" | sed -n 's/^EVENT_ID=//p') \
PREVIEW_TOKEN=$("$target_dir/debug/plugs-media" dev-token --user-id "$(printf '%s\n' "$seeded" | sed -n 's/^USER_ID=//p')") \
API_URL="http://127.0.0.1:$api_port" \
  "$VENV/bin/python" scripts/bench_previews.py --render "$target_dir/release/render-preview" --out "$work/previews.md"
cat "$work/previews.md" >>"$REPO_ROOT/bench/RESULTS.md"
