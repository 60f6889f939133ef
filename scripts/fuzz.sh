#!/usr/bin/env bash
# `make fuzz`: every fuzz target under libFuzzer (cargo-fuzz, coverage-guided) for 10 million
# executions each (FUZZ_RUNS) or at most FUZZ_SECONDS, two at a time. Corpora grow in fuzz/corpus/<target> (seeded from fuzz/seeds and the realm
# files), crashes land in fuzz/artifacts/<target>. Prints, and writes to fuzz/last-run.txt,
# each target's executions, rate and corpus; fails on any crash, timeout or out-of-memory.
#
#   FUZZ_RUNS=10000000  FUZZ_SECONDS=3600 (per target, whichever ends first)  FUZZ_JOBS=2
#   scripts/fuzz.sh [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. scripts/build-deps.sh

runs="${FUZZ_RUNS:-10000000}"
seconds="${FUZZ_SECONDS:-3600}"
jobs="${FUZZ_JOBS:-2}"
all=(saml_redirect saml_post oauth_request jwt realm metadata)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi
# cargo-fuzz passes its instrumentation flags through nightly-only options; the stable
# toolchain accepts them when told it is bootstrapping. No sanitizer: panics, hangs and
# allocation limits are what libFuzzer checks here (the code forbids `unsafe`).
export RUSTC_BOOTSTRAP=1
echo "== building the fuzz targets (instrumented, release)"
cargo fuzz build -s none --features libfuzzer 2>&1 | tail -3
bin_dir="target/x86_64-unknown-linux-gnu/release"

mkdir -p fuzz/logs
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  cp -n fuzz/seeds/"$t"/* "fuzz/corpus/$t/" 2>/dev/null || true
done
cp -n config/demo.toml fuzz/corpus/realm/demo.toml 2>/dev/null || true
cp -n bench/realm.toml fuzz/corpus/realm/bench.toml 2>/dev/null || true

run() {
  local t="$1"
  # -rss_limit_mb / -malloc_limit_mb: an input that makes a parser allocate without bound
  # is a failure, as is one that takes more than -timeout seconds.
  "$bin_dir/$t" "fuzz/corpus/$t" \
    -artifact_prefix="fuzz/artifacts/$t/" \
    -runs="$runs" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -max_len=65536 -print_final_stats=1 -close_fd_mask=3 \
    > "fuzz/logs/$t.log" 2>&1
}

echo "== fuzzing ${targets[*]}: ${runs} executions or ${seconds} s each, ${jobs} at a time"
status=0
declare -A running=()
finish() {
  local done_pid
  wait -n -p done_pid "${!running[@]}" || { echo "FAILED: ${running[$done_pid]} (see fuzz/logs/${running[$done_pid]}.log)"; status=1; }
  unset "running[$done_pid]"
}
for t in "${targets[@]}"; do
  run "$t" &
  running[$!]="$t"
  [ ${#running[@]} -ge "$jobs" ] && finish
done
while [ ${#running[@]} -gt 0 ]; do finish; done

{
  echo "fuzz run $(date -u +%Y-%m-%dT%H:%MZ): up to ${runs} executions or ${seconds} s per target, ${jobs} at a time, $(nproc) cores"
  printf '%-15s %14s %10s %8s %8s %10s\n' target executions "per s" seconds corpus "peak RSS"
  for t in "${targets[@]}"; do
    log="fuzz/logs/$t.log"
    done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
    secs=$(sed -n 's/.*Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    printf '%-15s %14s %10s %8s %8s %8s MB\n' "$t" "${done_runs:-?}" "${rate:-?}" "${secs:-?}" "$corpus" "${rss:-?}"
  done
  crashes=$(find fuzz/artifacts -type f | wc -l)
  echo "crashes, timeouts and out-of-memory inputs kept: $crashes"
} | tee fuzz/last-run.txt
[ "$(find fuzz/artifacts -type f | wc -l)" -eq 0 ] || status=1
exit "$status"
