#!/bin/sh
# t_ns_tools.sh — issue 12, the tools' side: ripcs, ripcrm and ripcmk
# refuse a namespace they may not trust, or a RIPC_DIR that does not exist,
# with a message naming the path, the problem and the fix, and exit 1
# (before, ripcs printed an empty namespace and exited 0); ripcmk
# --namespace DIR [--group NAME] makes a private (0700) or shared (3770)
# namespace. The namespace is the user backend's: skipped under the kernel.
T=${RIPC_TOOLS:-$(pwd)/target/release}
n=0; fail=0
t() {
  n=$((n+1))
  if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
skip() { n=$((n+1)); echo "ok $n # SKIP $1"; }
if [ "$RIPC_BACKEND" = kernel ]; then
  skip "kernel backend: the tools use no namespace directory"
  echo "1..$n"; exit 0
fi
tmp=$(mktemp -d /dev/shm/ripc-nstools.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
chmod 711 "$tmp"

# contains TEXT PATTERN...: every pattern (fixed string) is in TEXT
contains() { s=$1; shift; for p in "$@"; do case $s in *"$p"*) ;; *) return 1;; esac; done; return 0; }

out=$(RIPC_DIR="$tmp/none" "$T/ripcs" 2>&1); rc=$?
contains "$out" "$tmp/none" "no such namespace directory" "ripcmk --namespace"; m=$?
[ $rc = 1 ] && [ $m = 0 ]; t $? "ripcs with a missing RIPC_DIR: exit 1 and says what to do ($rc: $out)"
[ ! -e "$tmp/none" ]; t $? "and does not create it"
out=$(RIPC_DIR="$tmp/none" "$T/ripcrm" -a 2>&1); rc=$?
[ $rc = 1 ]; t $? "ripcrm -a with a missing RIPC_DIR: exit 1 ($out)"

if [ "$(id -u)" = 0 ]; then
  mkdir "$tmp/other" && chown 65534:65534 "$tmp/other" && chmod 700 "$tmp/other"
  out=$(RIPC_DIR="$tmp/other" "$T/ripcs" 2>&1); rc=$?
  contains "$out" "ripcs: $tmp/other: owned by uid 65534, not by you (uid 0) or root" "RIPC_DIR"; m=$?
  [ $rc = 1 ] && [ $m = 0 ]; t $? "ripcs in a directory owned by nobody: exit 1, names path, owner and fix ($out)"
  out=$(RIPC_DIR="$tmp/other" "$T/ripcmk" -Q 2>&1); rc=$?
  [ $rc = 1 ] && contains "$out" "owned by uid 65534"; t $? "ripcmk -Q there: refused too ($out)"
  [ -z "$(ls -A "$tmp/other")" ]; t $? "and nothing was made in it"
else
  skip "needs root"; skip "needs root"; skip "needs root"
fi

mkdir "$tmp/ow" && chmod 1777 "$tmp/ow"
out=$(RIPC_DIR="$tmp/ow" "$T/ripcs" 2>&1); rc=$?
[ $rc = 1 ] && contains "$out" "$tmp/ow" "writable by others" "chmod o-w"; t $? "ripcs in a 1777 directory: exit 1, says o+w and the fix ($out)"
ln -s "$tmp/ow" "$tmp/link"
out=$(RIPC_DIR="$tmp/link" "$T/ripcs" 2>&1); rc=$?
[ $rc = 1 ] && contains "$out" "$tmp/link" "symbolic link"; t $? "ripcs through a symlink: exit 1, says so ($out)"

out=$("$T/ripcmk" --namespace "$tmp/priv" 2>&1); rc=$?
[ $rc = 0 ] && [ "$(stat -c %a "$tmp/priv")" = 700 ] && [ -f "$tmp/priv/ripc.ns" ] && [ -f "$tmp/priv/ripc.seq" ]
t $? "ripcmk --namespace DIR: a private namespace, mode 700, initialised ($out)"
out=$(RIPC_DIR="$tmp/priv" "$T/ripcs" -q 2>&1); rc=$?
[ $rc = 0 ]; t $? "ripcs there: exit 0"

if [ "$(id -u)" = 0 ]; then
  out=$("$T/ripcmk" --namespace "$tmp/shared" --group 65534 -Q 2>&1); rc=$?
  [ $rc = 0 ] && [ "$(stat -c '%a %g' "$tmp/shared")" = "3770 65534" ] && contains "$out" "Message queue id:"
  t $? "ripcmk --namespace DIR --group 65534 -Q: mode 3770, group 65534, and a queue in it ($out)"
  [ "$(stat -c %a "$tmp/shared/ripc.ns")" = 644 ] && [ "$(stat -c %a "$tmp/shared/ripc.seq")" = 660 ]
  t $? "its ripc.ns is 644 (the owner's), ripc.seq 660 (the members')"
  RIPC_DIR="$tmp/shared" "$T/ripcrm" -a; t $? "ripcrm -a there"
else
  skip "needs root"; skip "needs root"; skip "needs root"
fi
out=$("$T/ripcmk" --group 65534 2>&1); rc=$?
[ $rc = 1 ]; t $? "--group without --namespace: exit 1 ($out)"

echo "1..$n"
exit $fail
