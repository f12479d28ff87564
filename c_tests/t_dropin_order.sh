#!/bin/sh
# t_dropin_order.sh — ripc_sysv.h works wherever a legacy program puts it:
# included before the <sys/*.h> headers, after them, or with -include; in
# strict C11 (-pedantic) and in C++17; warning-free with -Werror. Each
# program uses all 13 calls (semctl variadic, with the man page's own
# `union semun`), runs under the current RIPC_BACKEND, and must reference
# no libc System V symbol, only ripc_* (nm).
n=0; fail=0
# $todo, when set, marks the rows of a known, reported problem (TAP TODO).
todo=""
t() {
  n=$((n+1))
  if [ "$1" = 0 ]; then echo "ok $n - $2${todo:+ # TODO $todo}"
  else echo "not ok $n - $2${todo:+ # TODO $todo}"; [ -n "$todo" ] || fail=1; fi
}
skip() { n=$((n+1)); echo "ok $n - $1 # SKIP $2"; }
top=$(pwd)
CC=${CC:-cc}
CXX=${CXX:-g++}
LIBS="-lripc -lpthread -ldl -lm"
tmp=$(mktemp -d /tmp/ripc-order.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

sysv='#include <sys/types.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <sys/sem.h>'
# The body: every call once, checked; everything removed at the end.
cat > "$tmp/body.inc" <<'C'
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* As semctl(2) says: the calling program must define this union. */
union semun {
    int val;               /* Value for SETVAL */
    struct semid_ds *buf;  /* Buffer for IPC_STAT, IPC_SET */
    unsigned short *array; /* Array for GETALL, SETALL */
    struct seminfo *__buf; /* Buffer for IPC_INFO (Linux-specific) */
};

static int fail(const char *what) {
    fprintf(stderr, "%s failed: %s\n", what, strerror(errno));
    return 1;
}

int main(void) {
    key_t k = ftok(".", 'o');
    if (k == -1) return fail("ftok");

    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (q < 0) return fail("msgget");
    struct {
        long mtype;
        char mtext[16];
    } m = {7, "order"};
    if (msgsnd(q, &m, 6, 0) != 0) return fail("msgsnd");
    memset(&m, 0, sizeof m);
    if (msgrcv(q, &m, sizeof m.mtext, 7, IPC_NOWAIT) != 6 || strcmp(m.mtext, "order") != 0) return fail("msgrcv");
    struct msqid_ds qd;
    if (msgctl(q, IPC_STAT, &qd) != 0 || qd.msg_qnum != 0) return fail("msgctl IPC_STAT");
    if (msgctl(q, IPC_RMID, NULL) != 0) return fail("msgctl IPC_RMID");

    int s = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    if (s < 0) return fail("shmget");
    char *p = (char *)shmat(s, NULL, 0);
    if (p == (char *)-1) return fail("shmat");
    strcpy(p, "segment");
    struct shmid_ds sd;
    if (shmctl(s, IPC_STAT, &sd) != 0 || sd.shm_nattch != 1 || sd.shm_segsz != 4096) return fail("shmctl IPC_STAT");
    if (shmdt(p) != 0) return fail("shmdt");
    if (shmctl(s, IPC_RMID, NULL) != 0) return fail("shmctl IPC_RMID");

    int id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    if (id < 0) return fail("semget");
    union semun a;
    a.val = 1;
    if (semctl(id, 0, SETVAL, a) != 0) return fail("semctl SETVAL");
    struct sembuf op = {0, -1, 0};
    if (semop(id, &op, 1) != 0) return fail("semop");
    struct timespec ts = {0, 1000000};
    errno = 0;
    if (semtimedop(id, &op, 1, &ts) != -1 || errno != EAGAIN) return fail("semtimedop (want EAGAIN)");
    unsigned short vals[2] = {9, 9};
    a.array = vals;
    if (semctl(id, 0, GETALL, a) != 0 || vals[0] != 0 || vals[1] != 0) return fail("semctl GETALL");
    struct semid_ds md;
    a.buf = &md;
    if (semctl(id, 0, IPC_STAT, a) != 0 || md.sem_nsems != 2) return fail("semctl IPC_STAT");
    if (semctl(id, 1, GETVAL) != 0) return fail("semctl GETVAL (no fourth argument)");
    if (semctl(id, 0, IPC_RMID) != 0) return fail("semctl IPC_RMID");
    return 0;
}
C
{ echo '#include "ripc_sysv.h"'; echo "$sysv"; echo '#include "body.inc"'; } > "$tmp/before.c"
{ echo "$sysv"; echo '#include "ripc_sysv.h"'; echo '#include "body.inc"'; } > "$tmp/after.c"
{ echo "$sysv"; echo '#include "body.inc"'; } > "$tmp/plain.c"
# Legacy code often asks for GNU extensions itself, after -include put ours first.
{ echo '#define _GNU_SOURCE'; echo "$sysv"; echo '#include "body.inc"'; } > "$tmp/gnu.c"
cp "$tmp/before.c" "$tmp/before.cc"
cp "$tmp/after.c" "$tmp/after.cc"
cp "$tmp/plain.c" "$tmp/plain.cc"

CSTRICT="-std=c11 -Wall -Wextra -Werror -pedantic"
CXXFLAGS="-std=c++17 -Wall -Wextra -Werror"
calls='ftok|msgget|msgsnd|msgrcv|msgctl|shmget|shmat|shmdt|shmctl|semget|semop|semtimedop|semctl'

# check name compiler flags source [todo]
check() {
  name=$1; comp=$2; flags=$3; src=$4; todo=${5:-}
  bin="$tmp/$name"
  # shellcheck disable=SC2086
  if $comp $flags -I"$top/include" -I"$tmp" -o "$bin" "$tmp/$src" -L"$top/target/release" -Wl,--disable-new-dtags -Wl,-rpath,"$top/target/release" $LIBS 2> "$tmp/$name.err"; then
    t 0 "$name: compiles without a warning ($comp $flags)"
  else
    sed 's/^/# /' "$tmp/$name.err" | head -20
    t 1 "$name: compiles without a warning ($comp $flags)"
    skip "$name: runs" "did not compile"; skip "$name: no libc SysV symbol" "did not compile"
    todo=""
    return
  fi
  (cd "$tmp" && "$bin") 2> "$tmp/$name.run"
  rc=$?; [ $rc -ne 0 ] && sed 's/^/# /' "$tmp/$name.run"
  t $rc "$name: all 13 calls work under RIPC_BACKEND=${RIPC_BACKEND:-user}"
  libc=$(nm -u "$bin" | grep -E " ($calls)(@.*)?\$" | tr -s ' \n' ' ')
  missing=""
  for c in ftok msgget msgsnd msgrcv msgctl shmget shmat shmdt shmctl semget semop semtimedop semctl_arg; do
    nm -u "$bin" | grep -qE " ripc_$c\$" || missing="$missing ripc_$c"
  done
  [ -z "$libc" ] && [ -z "$missing" ]
  r=$?; [ $r -ne 0 ] && echo "# libc symbols:$libc; missing:$missing"
  t $r "$name: references the 13 ripc_* calls and no libc SysV symbol (nm)"
  todo=""
}

check c-before  "$CC" "$CSTRICT" before.c
check c-after   "$CC" "$CSTRICT" after.c
check c-include "$CC" "$CSTRICT -include ripc_sysv.h" plain.c
check c-after-gnu "$CC" "$CSTRICT -D_GNU_SOURCE" after.c
check c-gnu11-include "$CC" "-std=gnu11 -Wall -Wextra -Werror -include ripc_sysv.h" plain.c
check c-own-gnu-source "$CC" "-std=gnu11 -Wall -Wextra -Werror -include ripc_sysv.h" gnu.c
if command -v "$CXX" >/dev/null 2>&1; then
  check cxx-before  "$CXX" "$CXXFLAGS" before.cc
  check cxx-after   "$CXX" "$CXXFLAGS" after.cc
  check cxx-include "$CXX" "$CXXFLAGS -include ripc_sysv.h" plain.cc
else
  skip "C++ programs" "no $CXX"
fi

# Without the drop-in the same program calls libc (the check above means something).
$CC -std=gnu11 -o "$tmp/libc" "$tmp/plain.c" 2>/dev/null
nm -u "$tmp/libc" | grep -qE " msgget(@.*)?\$"
t $? "control: without ripc_sysv.h the program references libc's msgget"
echo "1..$n"
exit $fail
