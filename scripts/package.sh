#!/usr/bin/env bash
# Builds every function for Lambda (provided.al2023, arm64) with `sam build`, which runs
# cargo-lambda with zig from .venv (no Docker), then zips each one as `sam deploy` uploads
# it and prints the sizes. The zips land in .aws-sam/zips/. Not part of CI: a cold release
# build of every function takes longer than the rest of the suite.
#
# MAX_ZIP_BYTES (default 6000000) is the size budget per function; over it, this fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first"
ensure_system_packages
ensure_python_tools
if command -v rustup >/dev/null \
  && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  log "adding the aarch64-unknown-linux-gnu target"
  rustup target add aarch64-unknown-linux-gnu
fi

export PATH="$VENV/bin:$PATH" SAM_CLI_TELEMETRY=0
log "sam build (cargo lambda build --release --arm64 for each function)"
sam build --template-file template.yaml

log "zipping .aws-sam/build/*Function"
python3 - "${MAX_ZIP_BYTES:-6000000}" <<'PY'
import os, sys, zipfile
budget = int(sys.argv[1])
build, out = ".aws-sam/build", ".aws-sam/zips"
os.makedirs(out, exist_ok=True)
over = []
names = sorted(n for n in os.listdir(build) if n.endswith("Function"))
if not names:
    sys.exit("no functions in .aws-sam/build")
for name in names:
    src, dest = os.path.join(build, name), os.path.join(out, name + ".zip")
    unzipped = 0
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for root, _, files in os.walk(src):
            for f in sorted(files):
                path = os.path.join(root, f)
                unzipped += os.path.getsize(path)
                # ZipFile.write keeps the file mode: bootstrap must stay executable.
                z.write(path, os.path.relpath(path, src))
    size = os.path.getsize(dest)
    print(f"{name:24} {size / 1e6:6.2f} MB zipped  ({unzipped / 1e6:6.2f} MB unzipped)  {dest}")
    if size > budget:
        over.append(name)
if over:
    sys.exit(f"over the {budget / 1e6:.2f} MB budget: {', '.join(over)}")
PY
