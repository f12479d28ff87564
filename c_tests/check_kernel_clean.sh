#!/bin/sh
# check_kernel_clean.sh BEFORE — fails when the C suite left System V
# objects in the kernel (compares `ipcs -a` with the copy taken before).
before=$1
after=$(mktemp)
ipcs -a > "$after" 2>/dev/null || true
if ! diff -u "$before" "$after" >&2; then
  echo "C suite left kernel IPC objects behind (ipcs -a differs)" >&2
  rm -f "$after"; exit 1
fi
rm -f "$after"
echo "kernel IPC namespace clean after the C suite"
