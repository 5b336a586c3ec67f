#!/usr/bin/env bash
# Offline checks of what `sam deploy` and client teams consume: the SAM template
# (`sam validate --lint`, cfn-lint, checkov with the skips of checkov-skips.txt), the OpenAPI
# document, and the deploy-checks tests (one
# route table across template.yaml, Cargo.toml's router and openapi.yaml; what the linters
# do not check in the template; and the template after the SAM transform, which
# deploy-checks makes offline with scripts/translate_template.py into
# target/template.translated.json). Part of scripts/test.sh; runs alone as well.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ensure_python_tools
ensure_checkov

# Neither tool needs AWS: a region on the command line, dummy credentials so SAM does not go
# looking for real ones, no telemetry. Where a network namespace can be made (root, as in
# CI), the tools run with no network at all, which proves it.
export SAM_CLI_TELEMETRY=0
export AWS_ACCESS_KEY_ID=offline-check AWS_SECRET_ACCESS_KEY=offline-check
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true
offline() {
  if unshare -n true 2>/dev/null; then unshare -n "$@"; else "$@"; fi
}

log "sam validate --lint (template.yaml)"
offline "$VENV/bin/sam" validate --lint --region us-east-1 --template-file template.yaml

log "cfn-lint (template.yaml)"
offline "$VENV/bin/cfn-lint" template.yaml

log "checkov (template.yaml): no failed check but those checkov-skips.txt gives a reason for"
mkdir -p "$REPO_ROOT/target"
offline "$CHECKOV_VENV/bin/checkov" -f template.yaml --framework cloudformation --skip-download \
  --quiet --output json >"$REPO_ROOT/target/checkov.json" || true
"$VENV/bin/python" - "$REPO_ROOT/target/checkov.json" checkov-skips.txt <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
if isinstance(report, list):  # one report per framework; only cloudformation is asked for
    [report] = report
failed = {}
for check in report["results"]["failed_checks"]:
    failed.setdefault(check["check_id"], []).append(check["resource"])
skips = {}
for line in open(sys.argv[2]):
    line = line.strip()
    if line and not line.startswith("#"):
        check_id, _, reason = line.partition(" ")
        if not reason.strip():
            sys.exit(f"checkov-skips.txt: {check_id} gives no reason")
        skips[check_id] = reason.strip()
new = {c: r for c, r in failed.items() if c not in skips}
stale = sorted(set(skips) - set(failed))
for check_id, resources in sorted(new.items()):
    print(f"checkov: {check_id} fails on {', '.join(sorted(resources))}")
for check_id in stale:
    print(f"checkov-skips.txt: {check_id} no longer fails: remove its line")
summary = report["summary"]
skipped = sum(len(failed[c]) for c in skips if c in failed)
print(f"checkov: {summary['passed']} checks pass; {summary['failed']} findings, {skipped} of them "
      f"under the {len(skips)} checks checkov-skips.txt gives a reason for")
sys.exit(1 if new or stale else 0)
PY

log "samconfig.toml (its parameter overrides, read as sam deploy reads them)"
offline "$VENV/bin/python" - <<'PY'
import sys, tomllib
from samcli.cli.types import CfnParameterOverridesType
from samtranslator.yaml_helper import yaml_parse
config = tomllib.load(open("samconfig.toml", "rb"))
overrides = config["default"]["deploy"]["parameters"]["parameter_overrides"]
values = CfnParameterOverridesType().convert(overrides, None, None)
declared = yaml_parse(open("template.yaml").read())["Parameters"]
unknown = sorted(set(values) - set(declared))
if unknown:
    sys.exit(f"samconfig.toml overrides parameters template.yaml does not declare: {unknown}")
print(f"samconfig.toml: {len(values)} parameter overrides, all declared in template.yaml")
PY

log "OpenAPI 3.1 (openapi.yaml)"
offline "$VENV/bin/openapi-spec-validator" openapi.yaml

log "deploy-checks: route table, template rules, and the translated template (what AWS runs)"
cargo test -p deploy-checks --locked --no-fail-fast
