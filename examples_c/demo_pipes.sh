#!/bin/sh
# demo_pipes.sh — seed 002's pipe and FIFO scenarios and seed 000's signal
# "emergency plan", end to end and non-interactively, on the native ripc API.
# Binaries come from build/examples (make all). Runs in a temporary
# directory that it removes.
B=${RIPC_BUILD:-$(pwd)/build}/examples
dir=$(mktemp -d "${TMPDIR:-/tmp}/ripc-demo-pipes.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
rc=0
step() { printf '\n== %s\n' "$*"; }

step "anonymous pipe + fork: the child writes, the parent reads until EOF"
"$B/pipe_hello" || rc=1

step "a shell pipeline done by hand: ls / | wc -l"
"$B/pipe_shell" || rc=1

step "mkfifo: create a named pipe (mode 0664); again: EEXIST; with --exist-ok: fine"
"$B/fifo_mkfifo" fifo || rc=1
"$B/fifo_mkfifo" fifo 2>&1 && rc=1
"$B/fifo_mkfifo" --exist-ok fifo || rc=1
rm -f fifo

step "FIFO chat: server waits (at most 5 s) for a client; the client forwards two lines"
"$B/fifo_server" fifo 5000 &
spid=$!
i=0; while [ ! -p fifo ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
{ printf 'hello server\n'; sleep 0.2; printf 'see you\n'; sleep 0.2; } | "$B/fifo_client" fifo 5000 || rc=1
wait $spid || rc=1

step "a FIFO open that nobody answers times out instead of hanging"
"$B/fifo_server" lonely 300 2>&1 && rc=1

step "FIFO data lives in memory: the file size stays 0"
"$B/fifo_size" fifo || rc=1

step "signals in a poll loop, with payloads"
"$B/signal_fd" || rc=1

step "seed 000's emergency plan: a worker shuts down cleanly on SIGTERM"
"$B/signal_emergency" || rc=1

[ $rc = 0 ] && printf '\ndemo_pipes: all scenarios OK\n' || printf '\ndemo_pipes: FAILED\n'
exit $rc
