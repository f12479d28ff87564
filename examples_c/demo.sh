#!/bin/sh
# demo.sh — `make demo`: the articles' scenarios end to end on ripc, in the
# default namespace (RIPC_DIR, or /dev/shm/ripc). Binaries: build/examples.
set -e
B=$(cd "${RIPC_BUILD:-build}/examples" && pwd)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say "Message queue (seed 000): ftok + msgget, as the article's first program"
cd "$work"
"$B/msg_create" messagequeuekey | tee out.txt
id=$(sed -n 's/^Message queue id: \([0-9]*\)\.$/\1/p' out.txt)
cd - >/dev/null
say "./send -i $id -t 123 -m \"hello world\"   (one process)"
"$B/msg_send" -i "$id" -t 123 -m "hello world"
say "./recv -i $id -t 123   (another process)"
"$B/msg_recv" -i "$id" -t 123
say "./recv -i $id -t 123   (again: nothing left)"
"$B/msg_recv" -i "$id" -t 123 || true
say "stat, then remove the queue"
"$B/msg_ctl" stat "$id"
"$B/msg_ctl" rm "$id"

dir=$(dirname "$0")
for part in demo_shm.sh demo_sem.sh demo_pipes.sh demo_signals.sh; do
  if [ -f "$dir/$part" ]; then sh "$dir/$part"; fi
done
say "done"
