#!/bin/sh
# t_mixed.sh — a program built WITHOUT ripc (plain libc System V calls) and
# the same program built WITH the drop-in header share the kernel's objects
# when the latter runs under RIPC_BACKEND=kernel: one creates a queue, a
# segment and a semaphore by key, the other opens them by key, and they
# exchange a message, see each other's bytes in the segment, and P/V across.
# Under the user backend those rows are skipped (ripc's objects are files in
# RIPC_DIR, not kernel objects); what is checked there is the documented
# separation: a user-backend program does not see a kernel object (ENOENT).
n=0; fail=0
t() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
skip() { n=$((n+1)); echo "ok $n - $1 # SKIP $2"; }
top=$(pwd)
CC=${CC:-cc}
backend=${RIPC_BACKEND:-user}
tmp=$(mktemp -d /tmp/ripc-mixed.XXXXXX)
K=""; K2=""
cleanup() {
  # Whatever a failed row left behind in the kernel goes too.
  for k in $K $K2; do "$tmp/plain" remove "$k" >/dev/null 2>&1; done
  rm -rf "$tmp"
}
trap cleanup EXIT

cat > "$tmp/mixed.c" <<'C'
/* mixed CMD KEY [TEXT]: the same source, built with and without ripc. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <time.h>

union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
    struct seminfo *__buf;
};
struct msg {
    long mtype;
    char mtext[64];
};

static int die(const char *what) {
    fprintf(stderr, "%s: %s\n", what, strerror(errno));
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "key")) { /* key FILE */
        printf("%#x\n", (unsigned)ftok(argv[2], 'm'));
        return 0;
    }
    key_t k = (key_t)strtoul(argv[2], NULL, 0);
    if (!strcmp(cmd, "create")) {
        int q = msgget(k, IPC_CREAT | IPC_EXCL | 0600);
        int s = shmget(k, 4096, IPC_CREAT | IPC_EXCL | 0600);
        int m = semget(k, 1, IPC_CREAT | IPC_EXCL | 0600);
        if (q < 0 || s < 0 || m < 0) return die("create");
        union semun a = {.val = 0};
        if (semctl(m, 0, SETVAL, a) != 0) return die("SETVAL");
        printf("%d %d %d\n", q, s, m);
        return 0;
    }
    errno = 0;
    int q = msgget(k, 0), eq = errno;
    errno = 0;
    int s = shmget(k, 0, 0), es = errno;
    errno = 0;
    int m = semget(k, 0, 0), em = errno;
    if (!strcmp(cmd, "probe")) { /* what the key finds: ENOENT ENOENT ENOENT when nothing */
        printf("%s %s %s\n", q >= 0 ? "found" : strerrorname_np(eq), s >= 0 ? "found" : strerrorname_np(es),
               m >= 0 ? "found" : strerrorname_np(em));
        return 0;
    }
    if (q < 0 || s < 0 || m < 0) return die("open by key");
    if (!strcmp(cmd, "ids")) {
        printf("%d %d %d\n", q, s, m);
        return 0;
    }
    if (!strcmp(cmd, "send") && argc == 4) { /* text into the queue and the segment, then V */
        struct msg mb = {1, ""};
        snprintf(mb.mtext, sizeof mb.mtext, "%s", argv[3]);
        if (msgsnd(q, &mb, strlen(mb.mtext) + 1, 0) != 0) return die("msgsnd");
        char *p = shmat(s, NULL, 0);
        if (p == (void *)-1) return die("shmat");
        snprintf(p, 64, "%s", argv[3]);
        if (shmdt(p) != 0) return die("shmdt");
        struct sembuf v = {0, 1, 0};
        if (semop(m, &v, 1) != 0) return die("semop V");
        return 0;
    }
    if (!strcmp(cmd, "recv")) { /* P (waits up to 5 s), then the message and the segment */
        struct sembuf p_ = {0, -1, 0};
        struct timespec ts = {5, 0};
        if (semtimedop(m, &p_, 1, &ts) != 0) return die("semtimedop P");
        struct msg mb;
        if (msgrcv(q, &mb, sizeof mb.mtext, 1, IPC_NOWAIT) < 0) return die("msgrcv");
        char *p = shmat(s, NULL, SHM_RDONLY);
        if (p == (void *)-1) return die("shmat");
        printf("%s %s\n", mb.mtext, p);
        shmdt(p);
        return 0;
    }
    if (!strcmp(cmd, "remove")) {
        int r = msgctl(q, IPC_RMID, NULL) | shmctl(s, IPC_RMID, NULL) | semctl(m, 0, IPC_RMID);
        return r ? die("IPC_RMID") : 0;
    }
    return 2;
}
C

$CC -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$tmp/plain" "$tmp/mixed.c" 2> "$tmp/err1"
t $? "plain program builds without ripc"
$CC -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$top/include" -include ripc_sysv.h -o "$tmp/dropin" "$tmp/mixed.c" \
  -L"$top/target/release" -Wl,--disable-new-dtags -Wl,-rpath,"$top/target/release" -lripc -lpthread -ldl -lm 2> "$tmp/err2"
t $? "drop-in program builds with -include ripc_sysv.h"
sed 's/^/# /' "$tmp/err1" "$tmp/err2"
calls='ftok|msgget|msgsnd|msgrcv|msgctl|shmget|shmat|shmdt|shmctl|semget|semop|semtimedop|semctl'
[ "$(nm -u "$tmp/plain" | grep -cE " ($calls)(@.*)?\$")" -eq 13 ]
t $? "the plain program calls libc's 13 SysV functions (nm)"
[ "$(nm -u "$tmp/dropin" | grep -cE " ($calls)(@.*)?\$")" -eq 0 ]
t $? "the drop-in program calls none of them (nm)"

touch "$tmp/keyfile"
kp=$("$tmp/plain" key "$tmp/keyfile"); kd=$(RIPC_BACKEND=$backend "$tmp/dropin" key "$tmp/keyfile")
[ -n "$kp" ] && [ "$kp" = "$kd" ]
t $? "ftok: libc's and ripc's key for the same file agree ($kp, $kd)"

base=$(( ($$ & 0xffff) | 0x4d000000 ))
K=$(printf '%#x' $base)
K2=$(printf '%#x' $((base + 0x10000)))

KB="RIPC_BACKEND=kernel"
if [ "$backend" = kernel ]; then
  ids=$("$tmp/plain" create "$K"); t $? "libc creates a queue, a segment and a semaphore set with key $K"
  got=$(env $KB "$tmp/dropin" ids "$K")
  [ -n "$ids" ] && [ "$ids" = "$got" ]
  t $? "the drop-in program (kernel backend) opens the same three ids by key ($got)"
  "$tmp/plain" send "$K" from-libc
  out=$(env $KB "$tmp/dropin" recv "$K")
  [ "$out" = "from-libc from-libc" ]
  t $? "libc sends and writes, the drop-in receives the message and reads the bytes ($out)"
  env $KB "$tmp/dropin" send "$K" from-ripc
  out=$("$tmp/plain" recv "$K")
  [ "$out" = "from-ripc from-ripc" ]
  t $? "the drop-in sends and writes, libc receives the message and reads the bytes ($out)"
  # P/V across: each side blocks in P until the other's V.
  env $KB "$tmp/dropin" recv "$K" > "$tmp/out1" &
  w=$!; sleep 0.3; "$tmp/plain" send "$K" wake-ripc; wait $w; r=$?
  [ $r -eq 0 ] && [ "$(cat "$tmp/out1")" = "wake-ripc wake-ripc" ]
  t $? "a drop-in process blocked in P is woken by libc's V"
  "$tmp/plain" recv "$K" > "$tmp/out2" &
  w=$!; sleep 0.3; env $KB "$tmp/dropin" send "$K" wake-libc; wait $w; r=$?
  [ $r -eq 0 ] && [ "$(cat "$tmp/out2")" = "wake-libc wake-libc" ]
  t $? "a libc process blocked in P is woken by the drop-in's V"
  env $KB "$tmp/dropin" remove "$K"; t $? "the drop-in removes the three objects"
  out=$("$tmp/plain" probe "$K")
  [ "$out" = "ENOENT ENOENT ENOENT" ]; t $? "libc sees them gone ($out)"
  K=""
else
  for what in "opens libc's objects by key" "exchanges a message and segment bytes with libc (both ways)" \
              "P/V across with libc (both ways)" "removal seen by libc"; do
    skip "kernel backend: the drop-in $what" "RIPC_BACKEND=user: ripc's objects are not kernel objects"
  done
fi

# Under either run: a user-backend drop-in program does not see a kernel object.
"$tmp/plain" create "$K2" >/dev/null; t $? "libc creates kernel objects with key $K2"
out=$(RIPC_BACKEND=user "$tmp/dropin" probe "$K2")
[ "$out" = "ENOENT ENOENT ENOENT" ]
t $? "a user-backend drop-in program does not find them: msgget/shmget/semget(key, 0) -> ENOENT ($out)"
ls -A "${RIPC_DIR:-/dev/shm/ripc}" 2>/dev/null | grep -v -e '^ripc\.ns$' -e '^ripc\.seq$' -e '^ripc\.idx$' | grep -q .; [ $? -ne 0 ]
t $? "and made nothing in RIPC_DIR"
"$tmp/plain" remove "$K2"; t $? "libc removes them"
K2=""
echo "1..$n"
exit $fail
