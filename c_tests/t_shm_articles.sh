#!/bin/sh
# t_shm_articles.sh — seed 002's shared-memory programs, built unchanged
# with -include ripc_sysv.h, run as the article runs them (about 27 s:
# the programs' own sleeps). TAP output; run by c_tests/run1.sh, which sets
# RIPC_BACKEND, RIPC_DIR and RIPC_BUILD.
B=${RIPC_BUILD:-build}/articles
# The printed programs ftok() this fixed path: make it for the test.
P=/home/ljj/Linux_code/test_2022_2_15/System_V_IPC/shm
# Two suites running at once (two checkouts, both backends) would share
# that path and, on the kernel backend, the key ftok() makes of it: one
# run's cleanup removes the path under the other, or its IPC_EXCL create
# fails. As root, the test runs in a mount namespace of its own with a
# tmpfs on /home (the path private to it) and, on the kernel backend, in an
# IPC namespace of its own (the key private to it): unless the build tree
# itself lives under /home, or unshare is not allowed (a container); then
# the shared path, as before.
case "$(cd "$B" 2>/dev/null && pwd -P)" in
/home|/home/*) ;;
*)
  if [ -z "${RIPC_ART_PRIVATE:-}" ] && [ "$(id -u)" = 0 ] && [ -d /home ] &&
     unshare -m -i --propagation private true 2>/dev/null; then
    RIPC_ART_PRIVATE=1 exec unshare -m -i --propagation private sh "$0" "$@"
  fi
  ;;
esac
if [ -n "${RIPC_ART_PRIVATE:-}" ]; then
  mount -t tmpfs -o size=1m,mode=0755 ripc-articles /home ||
    { echo "1..0 # SKIP cannot mount a tmpfs on /home in a private namespace"; exit 0; }
fi
made=
if [ ! -e "$P" ]; then
  made=$(d=$P; while [ ! -e "$(dirname "$d")" ]; do d=$(dirname "$d"); done; echo "$d")
  mkdir -p "$P" || { echo "1..0 # SKIP cannot create $P"; exit 0; }
fi
T=$(mktemp -d)
cleanup() {
  rm -rf "$T"
  [ -n "$made" ] && rm -rf "$made"
}
trap cleanup EXIT
n=0; fail=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
has() { grep -q "$2" "$1"; echo $?; }
hasnt() { if grep -q "$2" "$1"; then echo 1; else echo 0; fi; }

# 1. shmget creates; a second run fails with EEXIST (IPC_EXCL).
"$B/shm_create" > "$T/c1" 2>&1
ok "$(has "$T/c1" '^shmid:[0-9]')" "shm_create: prints key and shmid"
key=$(sed -n 's/^key:\(-*[0-9]*\)$/\1/p' "$T/c1")
"$B/shm_create" > "$T/c2" 2>&1
ok "$(has "$T/c2" 'shmget error')" "shm_create again: shmget fails (IPC_EXCL)"
ok "$(has "$T/c2" 'File exists')" "with EEXIST"

# 2. shmat after 10 s, detach by exit after 5 more; meanwhile the clean
#    program attaches, detaches, and removes the segment 5 s later.
"$B/shm_attach" > "$T/a" 2>&1 &
apid=$!
sleep 10.5
"$B/shm_clean" > "$T/cl" 2>&1 &
cpid=$!
wait $apid
ok "$(has "$T/a" 'attach end')" "shm_attach: attach begin … attach end"
ok "$(hasnt "$T/a" 'error')" "shm_attach: no error"
sleep 1  # shm_clean removes the segment 5 s after it started
# 3. The server creates the segment anew and prints it every second; the
#    client appends a letter every second.
"$B/shm_server" > "$T/s" 2>&1 &
spid=$!
sleep 0.3
"$B/shm_client" > "$T/k" 2>&1 &
kpid=$!
wait $cpid
ok "$(has "$T/cl" 'clean end')" "shm_clean: clean begin … clean end"
ok "$(hasnt "$T/cl" 'error')" "shm_clean: no error"
wait $spid
wait $kpid
ok "$(hasnt "$T/s" 'error')" "shm_server: no error"
ok "$(hasnt "$T/k" 'error')" "shm_client: no error"
ok "$(has "$T/s" '^server:ABCDE')" "the server saw the client's letters arrive"
bad=$(sed -n 's/^server://p' "$T/s" | grep -v '^A\{0,1\}B\{0,1\}C\{0,1\}D\{0,1\}E\{0,1\}F\{0,1\}G\{0,1\}H\{0,1\}I\{0,1\}J\{0,1\}$' | head -1)
ok "$( [ -z "$bad" ]; echo $?)" "every line is a prefix of A…J"
sed 's/^/# /' "$T/s"
# 4. Nothing left behind: the server removed the segment.
if [ "$RIPC_BACKEND" = kernel ]; then
  hex=$(printf '0x%08x' "$key" 2>/dev/null | sed 's/^0xffffffff/0x/')
  ok "$(if ipcs -m | grep -qi "^$hex "; then echo 1; else echo 0; fi)" "no kernel segment with key $hex left"
else
  left=$(ls -A "$RIPC_DIR" | grep '^shm\.' | head -1)
  ok "$( [ -z "$left" ]; echo $?)" "no segment file left in RIPC_DIR"
fi
echo "1..$n"
exit $fail
