#!/bin/sh
# bench/run.sh — `make bench`: runs every benchmark in build/bench/, each of
# which measures ripc and the kernel (or raw system calls) in the same run
# and prints medians and ratios.
B=${RIPC_BUILD:-build}/bench
echo "ripc benchmarks — $(nproc) cores, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(medians of repeated runs; machines here are shared and noisy)"
status=0
# Every benchmark gets a private namespace, removed at the end.
RIPC_DIR=$(mktemp -d /dev/shm/ripc-bench.XXXXXX) && export RIPC_DIR
trap 'rm -rf "$RIPC_DIR"' EXIT
for b in "$B"/*; do
  [ -x "$b" ] || continue
  echo
  echo "== $(basename "$b")"
  "$b" || status=1
done
exit $status
