#!/bin/sh
# t_tools.sh — ripcs, ripcrm, ripcmk (TAP). Run by c_tests/run1.sh under
# RIPC_BACKEND=user and =kernel. Objects are made with ripcmk, a message is
# sent with the native example, ripcs must list and describe them with
# ipcs's layout, ripcrm removes them by id, by key, with the old form and
# (user backend only: on the kernel it would remove other people's
# objects) with -a. Under the kernel backend, ripcs output is compared with
# the real ipcs for the same objects (rows filtered to our ids, since other
# tests create kernel objects concurrently). Nothing is left behind.
T=${RIPC_TOOLS:-$(pwd)/target/release}
B=${RIPC_BUILD:-build}
n=0; fail=0
t() {
  n=$((n+1))
  if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
skip() { n=$((n+1)); echo "ok $n # SKIP $1"; }
kernel=; [ "$RIPC_BACKEND" = kernel ] && kernel=1
me=$(id -un); grp=$(id -gn)
tmp=$(mktemp -d) || exit 1
qs=; ms=; ss=
cleanup() {
  for i in $qs; do "$T/ripcrm" -q "$i" 2>/dev/null; done
  for i in $ms; do "$T/ripcrm" -m "$i" 2>/dev/null; done
  for i in $ss; do "$T/ripcrm" -s "$i" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# row ID [ripcs options]: the row of object ID (id in field 2 for the
# default format, field 1 otherwise)
row() { id=$1; shift; "$T/ripcs" "$@" | awk -v id="$id" '($1 ~ /^0x/ && $2 == id) || ($1 !~ /^0x/ && $1 == id)'; }
# ck NAME EXPECTED ACTUAL
ck() {
  [ "$2" = "$3" ]; r=$?; t $r "$1"
  [ $r = 0 ] || printf '#   expected: %s\n#   got:      %s\n' "$2" "$3"
}

for b in ripcs ripcrm ripcmk; do [ -x "$T/$b" ]; t $? "$b is built ($T/$b)"; done

# ---------------------------------------------------------------- ripcmk
out=$("$T/ripcmk" -Q); t $? "ripcmk -Q"
q1=$(echo "$out" | sed -n 's/^Message queue id: \([0-9][0-9]*\)$/\1/p'); qs="$qs $q1"
[ -n "$q1" ]; t $? "ripcmk -Q prints 'Message queue id: N' ($out)"
out=$("$T/ripcmk" --queue --mode 600)
q2=$(echo "$out" | sed -n 's/^Message queue id: \([0-9][0-9]*\)$/\1/p'); qs="$qs $q2"
[ -n "$q2" ]; t $? "ripcmk --queue --mode 600 ($out)"
out=$("$T/ripcmk" -Q -p 0640); q3=${out##*: }; qs="$qs $q3"

have_shm=1
out=$("$T/ripcmk" -M 1K 2>"$tmp/err"); rc=$?
if [ $rc -ne 0 ] && grep -q "Function not implemented" "$tmp/err"; then
  have_shm=; skip "shared memory not in this build yet: $(cat "$tmp/err")"
else
  m1=$(echo "$out" | sed -n 's/^Shared memory id: \([0-9][0-9]*\)$/\1/p'); ms="$ms $m1"
  [ $rc = 0 ] && [ -n "$m1" ]; t $? "ripcmk -M 1K ($out)"
  out=$("$T/ripcmk" -M 1.5K -p 600); m2=${out##*: }; ms="$ms $m2"
  [ -n "$m2" ]; t $? "ripcmk -M 1.5K -p 600 ($out)"
fi
have_sem=1
out=$("$T/ripcmk" -S 3 2>"$tmp/err"); rc=$?
if [ $rc -ne 0 ] && grep -q "Function not implemented" "$tmp/err"; then
  have_sem=; skip "semaphores not in this build yet: $(cat "$tmp/err")"
else
  s1=$(echo "$out" | sed -n 's/^Semaphore id: \([0-9][0-9]*\)$/\1/p'); ss="$ss $s1"
  [ $rc = 0 ] && [ -n "$s1" ]; t $? "ripcmk -S 3 ($out)"
fi

out=$("$T/ripcmk" 2>&1); rc=$?
ck "ripcmk without options: bad usage, exit 1" "1|ripcmk: bad usage
Try 'ripcmk --help' for more information." "$rc|$out"
out=$("$T/ripcmk" -M 1x 2>&1); rc=$?
ck "ripcmk -M 1x" "1|ripcmk: failed to parse size: '1x': Invalid argument" "$rc|$out"
out=$("$T/ripcmk" -S abc 2>&1); rc=$?
ck "ripcmk -S abc" "1|ripcmk: failed to parse elements: 'abc'" "$rc|$out"
out=$("$T/ripcmk" -Q -p 9 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "failed to parse mode"; t $? "ripcmk -p 9: $out"
"$T/ripcmk" --help | grep -q "create message queue"; t $? "ripcmk --help"

# a message of 3 bytes ("hi" and its NUL) in q1
if [ -x "$B/examples/msg_send" ]; then
  "$B/examples/msg_send" -i "$q1" -t 1 -m hi -w 0; t $? "msg_send -i $q1 -t 1 -m hi"
else
  "$B/articles/msg_send" -i "$q1" -t 1 -m hi; t $? "msg_send (article) -i $q1 -t 1 -m hi"
fi

# ---------------------------------------------------------------- ripcs
"$T/ripcs" > "$tmp/all"; t $? "ripcs runs"
ck "ripcs: blank line then the queues header" "
------ Message Queues --------
key        msqid      owner      perms      used-bytes   messages    " "$(head -3 "$tmp/all")"
grep -qx -- "------ Shared Memory Segments --------" "$tmp/all"; t $? "ripcs: shared memory section"
grep -qx -- "------ Semaphore Arrays --------" "$tmp/all"; t $? "ripcs: semaphore section"
r=$(row "$q1" -q)
echo "$r" | grep -Eq "^0x[0-9a-f]{8} $(printf '%-10s %-10.10s %-10s %-12s %-12s' "$q1" "$me" 644 3 1)\$"
t $? "ripcs -q row of $q1: 644, 3 bytes, 1 message: '$r'"
r=$(row "$q2" -q); set -- $r
ck "ripcs -q row of $q2: perms 600, empty" "$q2 $me 600 0 0" "$2 $3 $4 $5 $6"
r=$(row "$q1" -q --human); set -- $r
ck "ripcs -q --human: 3B" "3B 1" "$5 $6"
r=$(row "$q1" -q -p); set -- $r
[ "$1" = "$q1" ] && [ "$3" -gt 0 ] && [ "$4" = 0 ]; t $? "ripcs -q -p: lspid set, lrpid 0: '$r'"
grep -qx -- "------ Message Queues PIDs --------" <<EOF
$("$T/ripcs" -q -p)
EOF
t $? "ripcs -q -p header"
r=$(row "$q1" -q -c)
ck "ripcs -q -c row" "$(printf '%-10s %-10s %-10s %-10s %-10s %-10s' "$q1" 644 "$me" "$grp" "$me" "$grp")" "$r"
r=$(row "$q1" -q -t)
echo "$r" | grep -Eq "^$q1 +$me +[A-Z][a-z][a-z] [ 0-9][0-9] [0-9:]{8} +Not set +[A-Z][a-z][a-z] "
t $? "ripcs -q -t: sent, never received: '$r'"
"$T/ripcs" -q -i "$q1" > "$tmp/i"; t $? "ripcs -q -i $q1"
ck "ripcs -q -i: title" "Message Queue msqid=$q1" "$(sed -n 2p "$tmp/i")"
grep -q "^uid=$(id -u)	gid=$(id -g)	cuid=$(id -u)	cgid=$(id -g)	mode=0644\$" "$tmp/i"; t $? "ripcs -q -i: ids and mode"
grep -q "^cbytes=3	qbytes=[0-9]*	qnum=1	lspid=[1-9][0-9]*	lrpid=0\$" "$tmp/i"; t $? "ripcs -q -i: counters"
grep -q "^rcv_time=Not set" "$tmp/i"; t $? "ripcs -q -i: rcv_time Not set"
out=$("$T/ripcs" -q -i 999999 2>&1); rc=$?
ck "ripcs -q -i 999999" "0|ripcs: id 999999 not found" "$rc|$out"
out=$("$T/ripcs" -i 5 2>&1); rc=$?
ck "ripcs -i without a resource" "1|ripcs: when using an ID, a single resource must be specified" "$rc|$out"
out=$("$T/ripcs" -q -i x 2>&1); rc=$?
ck "ripcs -q -i x" "1|ripcs: failed to parse id argument: 'x'" "$rc|$out"
out=$("$T/ripcs" -x 2>&1); rc=$?
ck "ripcs -x" "1|ripcs: invalid option -- 'x'
Try 'ripcs --help' for more information." "$rc|$out"
"$T/ripcs" --help | grep -q "^Usage:"; t $? "ripcs --help"
"$T/ripcs" -V | grep -q "^ripcs from ripc "; t $? "ripcs -V"
"$T/ripcs" -l > "$tmp/l"
grep -qx -- "------ Messages Limits --------" "$tmp/l" && grep -q "^max queues system wide = [0-9]" "$tmp/l" \
  && grep -q "^max size of message (bytes) = [0-9]" "$tmp/l" && grep -q "^default max size of queue (bytes) = [0-9]" "$tmp/l"
t $? "ripcs -l: message limits"
if [ -z "$kernel" ]; then
  # Limits from the environment of the process that creates a namespace:
  # above the hard cap means the cap (never the default), 0 the default.
  RIPC_MSGMNB=2000000000 RIPC_MSGMAX=0 "$T/ripcmk" --namespace "$tmp/ns-env" >/dev/null
  l=$(RIPC_DIR="$tmp/ns-env" "$T/ripcs" -l -q)
  ck "RIPC_MSGMNB above the cap gives the cap" "default max size of queue (bytes) = 1073741824" \
    "$(printf '%s\n' "$l" | grep '^default max size of queue')"
  ck "RIPC_MSGMAX=0 gives the default" "max size of message (bytes) = 8192" \
    "$(printf '%s\n' "$l" | grep '^max size of message')"
else
  skip "environment limits: user backend only"; skip "environment limits: user backend only"
fi
"$T/ripcs" -u -q > "$tmp/u"
a=$(sed -n 's/^allocated queues = //p' "$tmp/u"); sp=$(sed -n 's/^used space = \([0-9]*\) bytes$/\1/p' "$tmp/u")
[ "${a:-0}" -ge 3 ] && [ "${sp:-0}" -ge 3 ]; t $? "ripcs -u: $a queues, $sp bytes used"
"$T/ripcs" --json > "$tmp/json"
python3 -c 'import json,sys; json.load(sys.stdin)' < "$tmp/json"; t $? "ripcs --json parses"
python3 - "$q1" "$tmp/json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[2]))
q = [x for x in d["queues"] if x["id"] == int(sys.argv[1])][0]
assert q["messages"] == 1 and q["used_bytes"] == 3 and q["perms"] == "644", q
assert q["lspid"] > 0 and q["lrpid"] == 0 and q["stime"] > 0 and q["rtime"] == 0, q
assert isinstance(d["segments"], list) and isinstance(d["semaphores"], list)
EOF
t $? "ripcs --json: queue $q1 with all its fields"

if [ -n "$have_shm" ]; then
  r=$(row "$m1" -m); set -- $r
  ck "ripcs -m row of $m1" "$m1 $me 644 1024 0" "$2 $3 $4 $5 $6"
  r=$(row "$m2" -m --human); set -- $r
  ck "ripcs -m --human: 1.5K" "600 1.5K" "$4 $5"
  "$T/ripcs" -m -i "$m2" > "$tmp/i"
  grep -q "^bytes=1536	lpid=0	cpid=[1-9][0-9]*	nattch=0\$" "$tmp/i"; t $? "ripcs -m -i $m2"
  grep -q "^mode=0600	access_perms=0600\$" "$tmp/i"; t $? "ripcs -m -i: mode"
  r=$(row "$m1" -m -t)
  echo "$r" | grep -Eq "^$m1 +$me +Not set +Not set +[A-Z]"; t $? "ripcs -m -t: '$r'"
  r=$(row "$m1" -m -p); set -- $r
  [ "$3" -gt 0 ] && [ "$4" = 0 ]; t $? "ripcs -m -p: cpid set, lpid 0: '$r'"
  python3 - "$m1" "$tmp/json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[2]))
s = [x for x in d["segments"] if x["id"] == int(sys.argv[1])][0]
assert s["bytes"] == 1024 and s["nattch"] == 0 and s["dest"] is False, s
EOF
  t $? "ripcs --json: segment $m1"
fi
if [ -n "$have_sem" ]; then
  r=$(row "$s1" -s); set -- $r
  ck "ripcs -s row of $s1" "$s1 $me 644 3" "$2 $3 $4 $5"
  "$T/ripcs" -s -i "$s1" > "$tmp/i"
  ck "ripcs -s -i: nsems" "nsems = 3" "$(grep '^nsems' "$tmp/i")"
  [ "$(grep -c '^[0-2]  *0  *0  *0  *0 *$' "$tmp/i")" = 3 ]; t $? "ripcs -s -i: three zero semaphores"
  r=$(row "$s1" -s -t)
  echo "$r" | grep -Eq "^$s1 +$me +Not set +[A-Z][a-z][a-z] [A-Z]"; t $? "ripcs -s -t: '$r'"
  [ -z "$("$T/ripcs" -s -p | tr -d '\n')" ]; t $? "ripcs -s -p prints nothing (as ipcs)"
  python3 - "$s1" "$tmp/json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[2]))
s = [x for x in d["semaphores"] if x["id"] == int(sys.argv[1])][0]
assert s["nsems"] == 3 and [e["value"] for e in s["elements"]] == [0, 0, 0], s
EOF
  t $? "ripcs --json: semaphore set $s1 with its values"
fi

# ------------------------------------------- the same output as the kernel's ipcs
if [ -n "$kernel" ] && command -v ipcs >/dev/null; then
  mine=" $qs $ms $ss "
  # keep headers and our rows: the machine's other objects come and go
  filt() { awk -v ids="$mine" '{ f = ($1 ~ /^0x/) ? $2 : $1 } f !~ /^[0-9]+$/ || index(ids, " " f " ")'; }
  for o in "" "-q" "-m" "-s" "-a" "-p" "-q -p" "-m -p" "-c" "-t" "-s -t" "-b" "--human" "-l" "-l -b" "-l --human"; do
    "$T/ripcs" $o | filt > "$tmp/r"; ipcs $o | filt > "$tmp/k"
    if cmp -s "$tmp/r" "$tmp/k"; then t 0 "ripcs $o = ipcs $o"
    else t 1 "ripcs $o = ipcs $o"; diff "$tmp/k" "$tmp/r" | sed 's/^/#   /'; fi
  done
  for o in "-u" "-u -b" "-u --human"; do
    "$T/ripcs" $o | sed 's/[0-9][0-9.]*[BKMGTPE]\{0,1\}/N/g' > "$tmp/r"; ipcs $o | sed 's/[0-9][0-9.]*[BKMGTPE]\{0,1\}/N/g' > "$tmp/k"
    cmp -s "$tmp/r" "$tmp/k"; t $? "ripcs $o = ipcs $o (numbers aside)"
  done
  det="-q -i $q1|-q -i $q2|-q -i $q1 --human|-q -i 999999"
  [ -n "$have_shm" ] && det="$det|-m -i $m1|-m -i $m2 --human"
  [ -n "$have_sem" ] && det="$det|-s -i $s1"
  IFS='|'; set -- $det; unset IFS
  for o in "$@"; do
    "$T/ripcs" $o > "$tmp/r" 2>&1; ipcs $o 2>&1 | sed 's/^ipcs:/ripcs:/' > "$tmp/k"
    if cmp -s "$tmp/r" "$tmp/k"; then t 0 "ripcs $o = ipcs $o"
    else t 1 "ripcs $o = ipcs $o"; diff "$tmp/k" "$tmp/r" | sed 's/^/#   /'; fi
  done
  for o in "-q 999999" "-Q 0x7ffffff1" "-Q 0" "-q abc" "msg 999999" "foo"; do
    a=$("$T/ripcrm" $o 2>&1; echo "rc=$?"); k=$(ipcrm $o 2>&1 | sed 's/^ipcrm/ripcrm/; s/ipcrm --help/ripcrm --help/'; echo "rc=$?")
    # the pipe hides ipcrm's status: take it again
    ipcrm $o >/dev/null 2>&1; k="${k%rc=*}rc=$?"
    ck "ripcrm $o = ipcrm $o" "$k" "$a"
  done
else
  skip "comparison with the kernel's ipcs: kernel backend only"
fi

# ---------------------------------------------------------------- ripcrm
out=$("$T/ripcrm" -q 999999 2>&1); rc=$?
ck "ripcrm -q 999999" "1|ripcrm: invalid id (999999)" "$rc|$out"
out=$("$T/ripcrm" -Q 0x7ffffff1 2>&1); rc=$?
ck "ripcrm -Q with an unused key" "1|ripcrm: invalid key (0x7ffffff1)" "$rc|$out"
out=$("$T/ripcrm" -Q 0 2>&1); rc=$?
ck "ripcrm -Q 0" "1|ripcrm: illegal key (0)" "$rc|$out"
out=$("$T/ripcrm" -q abc 2>&1); rc=$?
ck "ripcrm -q abc" "1|ripcrm: failed to parse argument: 'abc'" "$rc|$out"
out=$("$T/ripcrm" msg 2>&1); rc=$?
ck "ripcrm msg" "1|ripcrm: not enough arguments
Try 'ripcrm --help' for more information." "$rc|$out"
out=$("$T/ripcrm" foo 2>&1); rc=$?
ck "ripcrm foo" "1|ripcrm: unknown argument: foo
Try 'ripcrm --help' for more information." "$rc|$out"
out=$("$T/ripcrm" -a=bad 2>&1); rc=$?
ck "ripcrm -a=bad" "1|ripcrm: unknown argument: =bad" "$rc|$out"
"$T/ripcrm"; t $? "ripcrm without arguments does nothing, exit 0"

key2=$(row "$q2" -q | awk '{print $1}')
out=$("$T/ripcrm" -Q "$key2" 2>&1); t $? "ripcrm -Q $key2 (queue $q2) $out"
out=$("$T/ripcs" -q -i "$q2" 2>&1)
ck "queue $q2 is gone" "ripcs: id $q2 not found" "$out"
out=$("$T/ripcrm" -q "$q2" 2>&1); rc=$?
ck "ripcrm -q $q2 again" "1|ripcrm: invalid id ($q2)" "$rc|$out"
out=$("$T/ripcrm" -v -q "$q1"); t $? "ripcrm -v -q $q1"
ck "ripcrm -v explains" "removing message queue id \`$q1'" "$out"
out=$("$T/ripcrm" msg "$q3"); rc=$?
ck "ripcrm msg $q3 (old form)" "0|resource(s) deleted" "$rc|$out"
qs=
if [ -n "$have_shm" ]; then
  out=$("$T/ripcrm" --shmem-id "$m1" -m "$m2" 2>&1); t $? "ripcrm --shmem-id $m1 -m $m2 $out"
  [ -z "$(row "$m1" -m)$(row "$m2" -m)" ]; t $? "segments gone"
  ms=
fi
if [ -n "$have_sem" ]; then
  key=$(row "$s1" -s | awk '{print $1}')
  out=$("$T/ripcrm" -S "$key" 2>&1); t $? "ripcrm -S $key $out"
  [ -z "$(row "$s1" -s)" ]; t $? "semaphore set gone"
  ss=
fi

if [ -z "$kernel" ]; then
  "$T/ripcmk" -Q >/dev/null && "$T/ripcmk" -Q >/dev/null
  [ -n "$have_shm" ] && "$T/ripcmk" -M 100 >/dev/null
  [ -n "$have_sem" ] && "$T/ripcmk" -S 1 >/dev/null
  "$T/ripcrm" --all=msg; t $? "ripcrm --all=msg"
  [ -z "$("$T/ripcs" -q | sed -n '4,$p' | tr -d '\n')" ]; t $? "no queue left"
  "$T/ripcrm" --all; t $? "ripcrm --all"
  [ -z "$("$T/ripcs" | grep '^0x')" ]; t $? "nothing left in the namespace"
  left=$(ls -A "$RIPC_DIR" | grep -v -e '^ripc\.ns$' -e '^ripc\.seq$' -e '^ripc\.idx$')
  [ -z "$left" ]; t $? "RIPC_DIR holds only its own files: ripc.ns, ripc.seq, ripc.idx ($left)"
else
  skip "ripcrm -a: user backend only (on the kernel it removes everyone's objects)"
fi

echo "1..$n"
exit $fail
