#!/usr/bin/env bash
# apt_install (scripts/lib.sh) leaves the machine's PostgreSQL clusters as it found them: a
# Debian cluster that was running before keeps running, and only a cluster the install brought
# up is stopped again.
#
# Creates two throwaway Debian clusters on free ports (`pg_createcluster`), runs apt_install
# of a package that is already installed, with `apt-get install` wrapped so that it also
# starts the second cluster as a package's postinst would, and drops both clusters at the end.
# `apt-get update` is skipped (no network, and it would not change the outcome). Needs root
# and postgresql-common (pg_createcluster); scripts/test.sh runs it only then.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" = 0 ] && command -v pg_createcluster >/dev/null \
  || die "needs root and postgresql-common (pg_createcluster)"
version=$(basename "$(dirname "$(pg_bindir)")")
keep="plugs_keep_$$"
fresh="plugs_fresh_$$"
fake_bin=$(mktemp -d)

cleanup() {
  pg_dropcluster "$version" "$keep" --stop 2>/dev/null || true
  pg_dropcluster "$version" "$fresh" --stop 2>/dev/null || true
  rm -rf "$fake_bin"
}
trap cleanup EXIT

status_of() { pg_lsclusters -h | awk -v v="$version" -v c="$1" '$1 == v && $2 == c { print $4 }'; }
# Every other cluster's status, to check that they are left alone too.
others() { pg_lsclusters -h | awk -v k="$keep" -v f="$fresh" '$2 != k && $2 != f { print $1, $2, $4 }'; }

log "creating throwaway clusters $version/$keep (running) and $version/$fresh (stopped)"
pg_createcluster "$version" "$keep" --port "$(free_port)" --start-conf manual --start -- --no-sync >/dev/null
pg_createcluster "$version" "$fresh" --port "$(free_port)" --start-conf manual -- --no-sync >/dev/null
[ "$(status_of "$keep")" = online ] || die "could not start the throwaway cluster $keep"
others_before=$(others)

real_apt_get=$(command -v apt-get)
cat >"$fake_bin/apt-get" <<FAKE
#!/bin/sh
# apt-get, except that update does nothing and install starts a cluster, like a postinst.
case "\$1" in
  update) exit 0 ;;
  install) pg_ctlcluster "$version" "$fresh" start ;;
esac
exec "$real_apt_get" "\$@"
FAKE
chmod +x "$fake_bin/apt-get"

log "apt_install of an installed package (postgresql-common)"
PATH="$fake_bin:$PATH" apt_install postgresql-common

failed=0
expect() { # expect CLUSTER STATUS WHY
  local got
  got=$(status_of "$1")
  if [ "$got" = "$2" ]; then echo "ok    $3"; else echo "FAIL  $3 (it is $got)"; failed=1; fi
}
expect "$keep" online "a cluster that was running before the install still runs"
expect "$fresh" down "a cluster the install started is stopped again"
if [ "$(others)" = "$others_before" ]; then
  echo "ok    every other cluster is as it was"
else
  echo "FAIL  other clusters changed: before [$others_before] after [$(others)]"; failed=1
fi
exit "$failed"
