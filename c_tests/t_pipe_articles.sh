#!/bin/sh
# t_pipe_articles.sh — seed 002's pipe and FIFO programs, compiled as
# printed (build/articles/), driven non-interactively: the pipe+fork
# program, mkfifo, the FIFO client/server chat (the client's stdin comes
# from a script) and "FIFO data stays in memory: the file size stays 0".
# Then the same scenarios through the native-API examples (build/examples/).
# TAP output. Everything happens in a private directory under $RIPC_DIR.
B=${RIPC_BUILD:-build}
n=0
t() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
wait_fifo() { i=0; while [ ! -p "$1" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; [ -p "$1" ]; }

work=${RIPC_DIR:-/tmp}/pipe-articles.$$
mkdir -p "$work" && cd "$work" || exit 1
trap 'cd /; rm -rf "$work"' EXIT

# --- 1.4 pipe + fork: ten "hello Linux", one per second, then EOF
"$B/articles/pipe_fork" > pf.out 2>&1
t $? "article pipe+fork program exits 0"
c=$(grep -c '^recevie:hello Linux' pf.out)
[ "$c" -ge 1 ] && [ "$(tr -d '\n' < pf.out | grep -o 'hello Linux' | wc -l)" = 10 ]
t $? "parent printed all ten 'hello Linux' ($c reads)"
tail -n 1 pf.out | grep -q 'read end'; t $? "then '********** read end **********'"

# --- 1.5 mkfifo program
"$B/articles/fifo_mkfifo" > mk.out 2>&1; t $? "article mkfifo program: $(cat mk.out)"
[ -p fifo ] && [ "$(stat -c %a fifo)" = 664 ]; t $? "fifo exists, a FIFO with mode 664, size $(stat -c %s fifo)"
"$B/articles/fifo_mkfifo" > mk2.out 2>&1; rc=$?
[ $rc = 1 ] && grep -q 'File exists' mk2.out; t $? "running it again: $(cat mk2.out)"
rm -f fifo

# --- 1.5 chat: server creates the FIFO and prints; client sends stdin lines
"$B/articles/fifo_server" > server.out 2>&1 &
spid=$!
wait_fifo fifo; t $? "server created the FIFO"
{ printf 'hello server\n'; sleep 0.3; printf 'how are you\n'; sleep 0.3; } | "$B/articles/fifo_client" > client.out 2>&1
rc=$?
wait $spid; src=$?
[ $rc = 2 ] && grep -q 'client read error' client.out; t $? "client forwards stdin until EOF, then stops (rc $rc)"
grep -q '^server receive\]: hello server' server.out && grep -q 'server receive\]: how are you' server.out
t $? "server printed both lines"
[ $src = 0 ] && tail -n 1 server.out | grep -q 'client end'; t $? "server saw the client leave: '******* client end *******'"
rm -f fifo

# --- 1.6 FIFO data stays in memory: the size stays 0
"$B/articles/fifo_size" &
zpid=$!
wait_fifo fifo
exec 3< fifo          # the article's writer waits in open() for a reader
sleep 0.5
size=$(stat -c %s fifo)
kill $zpid; wait $zpid 2>/dev/null
exec 3<&-
[ "$size" = 0 ]; t $? "a writer filled the FIFO and blocked; the file size is $size"
rm -f fifo

# --- the same scenarios on the native API
E=$B/examples
if [ -x "$E/pipe_hello" ]; then
  "$E/pipe_hello" > ex1.out 2>&1 && grep -q 'read end' ex1.out; t $? "example pipe_hello"
  "$E/fifo_mkfifo" fifo > ex0.out 2>&1 && grep -q 'mode 664, size 0' ex0.out &&
    ! "$E/fifo_mkfifo" fifo > /dev/null 2>&1 && "$E/fifo_mkfifo" --exist-ok fifo > /dev/null
  t $? "example fifo_mkfifo: $(cat ex0.out); again EEXIST; --exist-ok fine"
  rm -f fifo
  "$E/pipe_shell" > ex2.out 2>&1; t $? "example pipe_shell: $(tr '\n' ' ' < ex2.out)"
  "$E/fifo_server" fifo 5000 > ex3.out 2>&1 &
  spid=$!
  wait_fifo fifo
  { printf 'hi\n'; sleep 0.2; printf 'bye\n'; } | "$E/fifo_client" fifo 5000 > /dev/null 2>&1; crc=$?
  wait $spid; src=$?
  [ $crc = 0 ] && [ $src = 0 ] && grep -q 'bye' ex3.out && [ ! -e fifo ]
  t $? "examples fifo_server + fifo_client (server removed the FIFO)"
  "$E/fifo_size" fifo > ex4.out 2>&1 && grep -q 'size 0' ex4.out && [ ! -e fifo ]
  t $? "example fifo_size: $(tail -n 1 ex4.out)"
  out=$("$E/signal_emergency" 2>&1); rc=$?
  [ $rc = 0 ] && echo "$out" | grep -q 'plan for SIGTERM: alarm code 7' && echo "$out" | grep -q 'exited cleanly'
  t $? "example signal_emergency: worker shuts down cleanly on SIGTERM"
  "$E/signal_fd" > ex5.out 2>&1 && [ "$(grep -c 'with payload' ex5.out)" = 3 ]
  t $? "example signal_fd: three queued payloads through a poll loop"
fi
echo "1..$n"
