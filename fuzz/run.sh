#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) each, all at once at low priority, from the
# committed seeds; prints each target's executions. Needs cargo-fuzz (`cargo install
# cargo-fuzz`); RUSTC_BOOTSTRAP lets the stable toolchain accept the flags cargo-fuzz passes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
seconds=${1:-600}
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O --sanitizer none
mkdir -p logs
for target in multipart file_name s3_key tags token preview_decode; do
  mkdir -p "corpus/$target"
  nice -n 10 cargo fuzz run -O --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"logs/$target.log" 2>&1 &
done
failed=0
for job in $(jobs -p); do wait "$job" || failed=1; done
for target in multipart file_name s3_key tags token preview_decode; do
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$target.log")
  echo "$target: ${runs:-?} executions in ${seconds} s$(grep -q 'SUMMARY\|panicked' "logs/$target.log" && echo ', CRASHED')"
done
exit $failed
