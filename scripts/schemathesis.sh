#!/usr/bin/env bash
# Checks that openapi.yaml tells the truth: schemathesis generates requests from it (valid
# and invalid ones), sends them to the API served by `cargo lambda watch`, and checks every
# answer against it (`--checks all`: status codes, content types, headers, schemas, no 5xx,
# invalid data refused, valid data accepted, auth not ignored).
#
# Reads API_URL, DEMO_TOKEN and DEMO_EVENT_ID (scripts/test.sh sets them with
# prepare_demo_database and start_api), and API_LOG when given. Requests carry the seeded organiser's token and hit
# their event; get/download/stream hit one PNG uploaded here (getZone, updateZone and addZoneFiles its zone); the deletes and complete get
# throwaway fixtures from scripts/schemathesis_hooks.py. Configuration:
# scripts/schemathesis.toml; what is left out and why: scripts/schemathesis-exclusions.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
: "${API_URL:?}" "${DEMO_TOKEN:?}" "${DEMO_EVENT_ID:?}"

# The hard bound on the whole run, whatever the configuration says.
SCHEMATHESIS_TIMEOUT=${SCHEMATHESIS_TIMEOUT:-180}
media="$API_URL/api/v1/events/$DEMO_EVENT_ID/media"
auth="Authorization: Bearer $DEMO_TOKEN"

# The shared media item: a 1x1 PNG.
png=$(mktemp)
trap 'rm -f "$png"' EXIT
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\10\0\0\0\0\x3a\x7e\x9b\x55\0\0\0\nIDATx\x9cc`\0\0\0\2\0\1\x48\xaf\xa4\x71\0\0\0\0IEND\xae\x42\x60\x82' >"$png"
uploaded=$(curl -fsS -m 120 -H "$auth" -F "file=@$png;filename=schemathesis.png" "$media")
SCHEMA_MEDIA_ID=$(printf '%s' "$uploaded" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
# Its zone: batch_id, or on a seed-era database (no zones) the item itself.
SCHEMA_ZONE_ID=$(printf '%s' "$uploaded" \
  | python3 -c 'import json, sys; m = json.load(sys.stdin); print(m["batch_id"] or m["id"])')
export SCHEMA_MEDIA_ID SCHEMA_ZONE_ID

# One call per function first: `cargo lambda watch` starts a function on its first request,
# which can take longer than the response-time check allows.
for path in "" "/$SCHEMA_MEDIA_ID" "/$SCHEMA_MEDIA_ID/download" "/$SCHEMA_MEDIA_ID/stream"; do
  curl -sS -m 120 -o /dev/null -H "$auth" "$media$path"
done
curl -sS -m 120 -o /dev/null -H "$auth" -X POST "$media"
curl -sS -m 120 -o /dev/null -H "$auth" -X POST -H 'Content-Type: application/json' -d '{}' "$media/uploads"
curl -sS -m 120 -o /dev/null -H "$auth" -X POST "$media/uploads/00000000-0000-4000-8000-000000000000/complete"
curl -sS -m 120 -o /dev/null -H "$auth" -X DELETE "$media/00000000-0000-4000-8000-000000000000"
curl -sS -m 120 -o /dev/null -H "$auth" "$media/grouped"
curl -sS -m 120 -o /dev/null -H "$auth" "$media/zones/$SCHEMA_ZONE_ID"
curl -sS -m 120 -o /dev/null -H "$auth" -X PATCH -H 'Content-Type: application/json' -d '{}' "$media/zones/$SCHEMA_ZONE_ID"
curl -sS -m 120 -o /dev/null -H "$auth" -X DELETE "$media/zones/00000000-0000-4000-8000-000000000000"
curl -sS -m 120 -o /dev/null -H "$auth" -X POST "$media/zones/$SCHEMA_ZONE_ID/files"
nil=00000000-0000-4000-8000-000000000000
curl -sS -m 120 -o /dev/null -H "$auth" -X POST -H 'Content-Type: application/json' -d '{}' "$media/multipart"
curl -sS -m 120 -o /dev/null -H "$auth" -X POST -H 'Content-Type: application/json' -d '{}' "$media/multipart/$nil/parts"
curl -sS -m 120 -o /dev/null -H "$auth" "$media/multipart/$nil/parts"
curl -sS -m 120 -o /dev/null -H "$auth" -X POST -H 'Content-Type: application/json' -d '{}' "$media/multipart/$nil/complete"
curl -sS -m 120 -o /dev/null -H "$auth" -X DELETE "$media/multipart/$nil"

# With API_LOG (the `cargo lambda watch` log), what the functions log during the run is
# checked too: the hooks drop the emulator's own 500s, so prove no function answered a 5xx.
log_start=0
if [ -n "${API_LOG:-}" ]; then log_start=$(stat -c %s "$API_LOG"); fi

# unsupported_method: see scripts/schemathesis-exclusions.md.
timeout --kill-after=10 "$SCHEMATHESIS_TIMEOUT" \
  "$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml --no-color \
  run openapi.yaml --url "$API_URL" --checks all --exclude-checks unsupported_method \
  --report junit --report-dir "${SCHEMATHESIS_REPORT_DIR:-$REPO_ROOT/.local/schemathesis-report}"

if [ -n "${API_LOG:-}" ]; then
  # The functions log JSON lines as on Lambda (`"message":"answered","status":404`), or text
  # (`answered status=404`) when run without AWS_LAMBDA_LOG_FORMAT=JSON.
  answered=$(tail -c +"$((log_start + 1))" "$API_LOG" | python3 -c '
import json, re, sys
for line in sys.stdin:
    line = line.strip()
    try:
        event = json.loads(line)
    except ValueError:
        found = re.search(r"answered status=([0-9]+)", line)
        if found:
            print("status=" + found.group(1))
        continue
    if isinstance(event, dict) and event.get("message") == "answered":
        print("status=%s" % event.get("status"))
' | sort | uniq -c)
  [ -n "$answered" ] || die "no 'answered' lines in $API_LOG: cannot tell what the functions answered"
  printf 'what the functions answered during the run:\n%s\n' "$answered"
  if grep -q 'status=5' <<<"$answered"; then
    die "a function answered a 5xx during the schemathesis run (see $API_LOG)"
  fi
fi
