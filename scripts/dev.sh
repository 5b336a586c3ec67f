#!/usr/bin/env bash
# Brings up the whole local stack — PostgreSQL, SeaweedFS (S3), the migrated database with a
# demo organiser and event, and the fixtures' event and media item with ready copies of
# events/ under .local/events — and serves the API on http://localhost:8000 with
# `cargo lambda watch`, so the spec's curl examples work as written. Ctrl-C stops everything.
#
# PLUGS_SCHEMA=seed or current builds the database in that shape of The Plugs' schema before
# the migrations (see prepare_demo_database in scripts/lib.sh); unset, it is this service's
# own database.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
PORT=${PORT:-8000}

ensure_tools
ensure_examples_packages
log "building the workspace"
cargo build --workspace --locked

trap 'stack_stop; kill $(jobs -p) 2>/dev/null' EXIT
trap 'exit 130' INT TERM
stack_start "$REPO_ROOT/.local/dev-stack"
source "$STACK_DIR/env"
prepare_demo_database
EXAMPLES_PORT=${EXAMPLES_PORT:-8001}
prepare_local_bucket "${S3_BUCKET_NAME:-plugs-bucket}" "$EXAMPLES_PORT"
# The fixtures' event and media item, and copies of events/ with the organiser's token.
S3_BUCKET_NAME=${S3_BUCKET_NAME:-plugs-bucket} "$REPO_ROOT/target/debug/plugs-media" dev-fixtures \
  --events-dir "$REPO_ROOT/events" --out "$REPO_ROOT/.local/events" >/dev/null
log "starting the API on http://localhost:$PORT"
start_api "$PORT" "$STACK_DIR/api.log"
python3 -m http.server "$EXAMPLES_PORT" --bind 127.0.0.1 --directory "$REPO_ROOT/examples" >/dev/null 2>&1 &

cat <<INFO

plugs-media is serving on http://localhost:$PORT

  event id:  $DEMO_EVENT_ID
  token:     $DEMO_TOKEN
  schema:    ${PLUGS_SCHEMA:-this service's own} (PLUGS_SCHEMA=seed|current picks The Plugs' shape)

  export EVENT_ID=$DEMO_EVENT_ID TOKEN=$DEMO_TOKEN
  curl -X POST "http://localhost:$PORT/api/v1/events/\$EVENT_ID/media" \\
    -H "Authorization: Bearer \$TOKEN" -F "file=@/path/to/your/file.jpg" -F "title=Event Photo"

Any function with its fixture, through the same watch (.local/events/ holds events/ with the
organiser's token; the fixtures' event and media item are seeded):
  export PATH="$REPO_ROOT/.venv/bin:\$PATH"
  cargo lambda invoke get-media --invoke-address 127.0.0.1 --invoke-port $PORT \\
    --data-file .local/events/get-media/get-one.json
  (delete-media consumes the media item; to bring it back:
   (source $STACK_DIR/env; DATABASE_URL='$DATABASE_URL' target/debug/plugs-media dev-fixtures --out .local/events))

Direct upload page (create → PUT → complete, with progress):
  http://localhost:$EXAMPLES_PORT/direct-upload.html?api=http://localhost:$PORT&event=$DEMO_EVENT_ID&token=$DEMO_TOKEN

Uppy page (Dashboard; one PUT up to 10 MiB, resumable multipart above, pause/resume):
  http://localhost:$EXAMPLES_PORT/uppy-upload.html?api=http://localhost:$PORT&event=$DEMO_EVENT_ID&token=$DEMO_TOKEN
Gallery page (thumbs laid out from width/height, medium preview on click, uploads):
  http://localhost:$EXAMPLES_PORT/gallery.html?api=http://localhost:$PORT&event=$DEMO_EVENT_ID&token=$DEMO_TOKEN

S3 (SeaweedFS): $AWS_ENDPOINT_URL_S3  bucket ${S3_BUCKET_NAME:-plugs-bucket}
Database:       $DATABASE_URL
Function logs:  $STACK_DIR/api.log
Press Ctrl-C to stop everything.
INFO
tail -n +1 -f "$STACK_DIR/api.log" &
wait
