#!/usr/bin/env bash
# Build every fuzz target and run each for a bounded time.
#
#   fuzz/run.sh [SECONDS_PER_TARGET]      (default 20; or FUZZ_SECONDS in the environment)
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer); on this stable-only machine we set
# RUSTC_BOOTSTRAP=1, which lets stable rustc accept them. Corpora live in fuzz/corpus/<target>
# (ignored by git) and grow across runs; crashes land in fuzz/artifacts/<target> and fail the run.
#
# Sanitizer: none by default (FUZZ_SANITIZER=address to change it). Every lvs crate forbids
# unsafe code, so AddressSanitizer has nothing of ours to watch; what the targets look for are
# panics and failed assertions, which libFuzzer reports without it (coverage guidance stays on),
# and the build without ASan is minutes faster on 2 cores.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-${FUZZ_SECONDS:-20}}"
san="${FUZZ_SANITIZER:-none}"
export RUSTC_BOOTSTRAP=1
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi
targets=$(cargo fuzz list)
cargo fuzz build --release -s "$san"
failed=0
for t in $targets; do
  mkdir -p "corpus/$t"
  echo "fuzz: $t for ${secs}s"
  if ! cargo fuzz run --release -s "$san" "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 \
      -print_final_stats=1 2>"/tmp/lvs-fuzz-$t.log"; then
    echo "fuzz: $t FAILED (log /tmp/lvs-fuzz-$t.log):"
    tail -40 "/tmp/lvs-fuzz-$t.log"
    failed=1
  else
    grep -E "stat::number_of_executed_units" "/tmp/lvs-fuzz-$t.log" | sed "s/^/fuzz: $t /" || true
  fi
done
exit $failed
