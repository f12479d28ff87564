#!/bin/sh
# check_kernel_clean.sh BEFORE — fails when the C suite left System V
# objects in the kernel: an object in `ipcs -a` now that was not in the
# copy BEFORE taken before the suite (same kind, id, key and owner).
# Objects present before and gone now (another program on the machine
# removed its own) and the changing counts of objects present before
# (their messages, attachments) are no leftovers: shown, not failed.
before=$1
after=$(mktemp)
ipcs -a > "$after" 2>/dev/null || true
# "kind key id owner" per object: ipcs -a prints a section per kind, each
# row starting with the key (0x...) and the id.
objects() {
  awk '/Message Queues/ {k = "msg"} /Shared Memory/ {k = "shm"} /Semaphore Arrays/ {k = "sem"}
       $1 ~ /^0x/ {print k, $1, $2, $3}' "$1" | sort
}
objects "$before" > "$after.b"
objects "$after" > "$after.a"
left=$(comm -13 "$after.b" "$after.a")
gone=$(comm -23 "$after.b" "$after.a")
if [ -n "$gone" ]; then
  echo "# objects present before the C suite and gone now (removed by their owner; not ours):" >&2
  echo "$gone" | sed 's/^/#   /' >&2
fi
rm -f "$after" "$after.b" "$after.a"
if [ -n "$left" ]; then
  echo "$left" | sed 's/^/  /' >&2
  echo "C suite left kernel IPC objects behind (listed above: kind, key, id, owner)" >&2
  exit 1
fi
echo "kernel IPC namespace clean after the C suite"
