#!/bin/sh
# bench/run.sh — `make bench`: runs every benchmark in build/bench/, each of
# which measures ripc and the kernel (or raw system calls) in the same run
# and prints medians and ratios. build/bench/matrix (first) is the
# placement matrix of docs/perf.md. BENCH_QUICK=1: fewer, shorter
# repetitions (a smoke run, not figures to quote).
B=${RIPC_BUILD:-build}/bench
if [ -n "$BENCH_QUICK" ] && [ "$BENCH_QUICK" != 0 ]; then
  : "${BENCH_REPS:=3}"
  export BENCH_QUICK BENCH_REPS
fi
echo "ripc benchmarks — $(nproc) cores, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(medians of repeated runs; machines here are shared and noisy)"
status=0
# Every benchmark gets a private namespace, removed at the end.
RIPC_DIR=$(mktemp -d /dev/shm/ripc-bench.XXXXXX) && export RIPC_DIR
trap 'rm -rf "$RIPC_DIR"' EXIT
for b in "$B"/*; do
  [ -f "$b" ] && [ -x "$b" ] || continue
  echo
  echo "== $(basename "$b")"
  "$b" || status=1
done
exit $status
