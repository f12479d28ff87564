/* t_sem_undo.c — SEM_UNDO and crashes: a holder killed by SIGKILL inside
 * its critical section releases it, for a later caller and for one already
 * asleep; exit applies undo; a fork child starts with no adjustments;
 * SETVAL clears them; the result is clamped at 0; adjustment overflow is
 * ERANGE; and a process killed at random points of a P/V loop never
 * leaves the set inconsistent. Drop-in API; both backends. */
#pragma GCC diagnostic ignored "-Wcomment" /* the header comment names sys headers with a glob */
#include "ripc_sysv.h"
#include "tap.h"
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int op(int id, int o, int flg) {
    struct sembuf b = {0, (short)o, (short)flg};
    return semop(id, &b, 1);
}

static int timed_p(int id, int secs) {
    struct sembuf b = {0, -1, 0};
    struct timespec ts = {secs, 0};
    return semtimedop(id, &b, 1, &ts);
}

static int wait_ncnt(int id, int want) {
    for (int i = 0; i < 500; i++) {
        if (semctl(id, 0, GETNCNT) == want) return 1;
        usleep(10000);
    }
    return 0;
}

/* Forks a child that takes the semaphore with SEM_UNDO and sleeps; returns
 * once it holds it. */
static pid_t holder(int id) {
    int p[2];
    char c;
    if (pipe(p)) exit(1);
    pid_t h = fork();
    if (h == 0) {
        if (op(id, -1, SEM_UNDO)) _exit(1);
        if (write(p[1], "h", 1) != 1) _exit(2);
        for (;;) pause();
    }
    if (read(p[0], &c, 1) != 1) exit(1);
    close(p[0]);
    close(p[1]);
    return h;
}

int main(void) {
    int st;
    int id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    ok(id >= 0 && semctl(id, 0, SETVAL, 1) == 0, "a mutex: one semaphore at 1");

    pid_t h = holder(id);
    ok(semctl(id, 0, GETVAL) == 0, "a child holds it (P with SEM_UNDO)");
    kill(h, SIGKILL);
    waitpid(h, &st, 0);
    double t0 = tap_now();
    ok(timed_p(id, 5) == 0, "after SIGKILL inside the critical section, P succeeds");
    ok(tap_now() - t0 < 2, "... promptly (%.3f s)", tap_now() - t0);
    ok(op(id, 1, 0) == 0 && semctl(id, 0, GETVAL) == 1, "released again");

    h = holder(id);
    pid_t w = fork();
    if (w == 0) _exit(timed_p(id, 10) == 0 ? 0 : 1);
    ok(wait_ncnt(id, 1), "a second child sleeps waiting for it");
    t0 = tap_now();
    kill(h, SIGKILL);
    waitpid(h, &st, 0);
    waitpid(w, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the sleeper gets it when the holder is killed");
    ok(tap_now() - t0 < 2, "... promptly (%.3f s)", tap_now() - t0);
    ok(semctl(id, 0, GETVAL) == 0, "and holds it (value 0; it took it without SEM_UNDO)");
    semctl(id, 0, SETVAL, 1);

    pid_t c = fork();
    if (c == 0) _exit(op(id, -1, SEM_UNDO) ? 1 : 0);
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && semctl(id, 0, GETVAL) == 1, "a normal exit applies the undo too");

    ok(op(id, -1, SEM_UNDO) == 0, "the parent takes it with SEM_UNDO");
    c = fork();
    if (c == 0) _exit(op(id, 1, SEM_UNDO) ? 1 : 0);
    waitpid(c, &st, 0);
    ok(semctl(id, 0, GETVAL) == 0, "a fork child starts with no adjustments (its +1 is undone, the parent's -1 is not)");
    ok(op(id, 1, SEM_UNDO) == 0 && semctl(id, 0, GETVAL) == 1, "the parent releases it");

    semctl(id, 0, SETVAL, 5);
    int p[2], q[2]; /* p: child to parent, q: parent to child */
    char ch;
    if (pipe(p) || pipe(q)) return 1;
    c = fork();
    if (c == 0) {
        if (op(id, -1, SEM_UNDO)) {
            printf("# child: semop: %s\n", strerror(errno));
            if (write(p[1], "f", 1) != 1) _exit(2);
            _exit(1);
        }
        if (write(p[1], "x", 1) != 1) _exit(2);
        if (read(q[0], &ch, 1) != 1) _exit(3);
        _exit(0);
    }
    if (read(p[0], &ch, 1) != 1) return 1;
    ok(semctl(id, 0, GETVAL) == 4, "a child takes 1 of 5 with SEM_UNDO");
    ok(semctl(id, 0, SETVAL, 10) == 0, "SETVAL 10");
    if (write(q[1], "y", 1) != 1) return 1;
    waitpid(c, &st, 0);
    ok(semctl(id, 0, GETVAL) == 10, "SETVAL cleared the child's adjustment: still 10 after it exits");

    semctl(id, 0, SETVAL, 0);
    c = fork();
    if (c == 0) {
        if (op(id, 3, SEM_UNDO)) {
            printf("# child: semop: %s\n", strerror(errno));
            if (write(p[1], "f", 1) != 1) _exit(2);
            _exit(1);
        }
        if (write(p[1], "x", 1) != 1) _exit(2);
        if (read(q[0], &ch, 1) != 1) _exit(3);
        _exit(0);
    }
    if (read(p[0], &ch, 1) != 1) return 1;
    ok(op(id, -3, 0) == 0, "a child gives 3 with SEM_UNDO; the parent takes them");
    if (write(q[1], "y", 1) != 1) return 1;
    waitpid(c, &st, 0);
    ok(semctl(id, 0, GETVAL) == 0, "the child's undo (-3) is clamped at 0");

    semctl(id, 0, SETVAL, 32767);
    ok(op(id, -32767, SEM_UNDO) == 0, "adjustment +32767 (SEMAEM)");
    ok(op(id, 1, 0) == 0, "+1 without undo");
    ok_errno(op(id, -1, SEM_UNDO) == -1, ERANGE, "an adjustment beyond SEMAEM: ERANGE");
    ok(semctl(id, 0, SETVAL, 1) == 0, "SETVAL 1 (clears it)");

    int bad = 0;
    for (int i = 0; i < 20; i++) {
        c = fork();
        if (c == 0) {
            for (;;) {
                if (op(id, -1, SEM_UNDO) || op(id, 1, SEM_UNDO)) _exit(1);
            }
        }
        usleep(2000 + (i * 7919) % 20000);
        kill(c, SIGKILL);
        waitpid(c, &st, 0);
        if (timed_p(id, 5) != 0 || semctl(id, 0, GETVAL) != 0 || op(id, 1, 0) != 0) bad++;
    }
    ok(bad == 0, "20 children killed at random points of a P/V loop: the set is consistent every time (%d bad)", bad);
    ok(semctl(id, 0, IPC_RMID) == 0, "IPC_RMID");
    return done_testing();
}
