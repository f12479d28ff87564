/* t_sem_grant_dead.c — a release granted to a sleeper that dies before it
 * collects the grant is not lost (docs/sem.md, "A grant to a sleeper that
 * died"). ripc grants a sleeper without checking that it still lives; a
 * grant whose sleeper is then found dead is given back. The sleeper is held
 * between grant and collection with SIGSTOP, so the window is certain:
 * under the kernel a stopped semop has left the queue (it gives EINTR after
 * SIGCONT, semop(2)), so the release is not granted to it at all, and the
 * outcomes must be the same. Runs under both backends. */
#include "ripc_sysv.h"
#include "tap.h"
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int op1(int id, int num, int op, int flg) {
    struct sembuf b = {(unsigned short)num, (short)op, (short)flg};
    return semop(id, &b, 1);
}

/* Waits (up to 5 s) until GETNCNT of sem `num` reaches `want`. */
static int wait_ncnt(int id, int num, int want) {
    for (int i = 0; i < 500; i++) {
        if (semctl(id, num, GETNCNT) == want) return 1;
        usleep(10000);
    }
    return 0;
}

/* A child sleeping on P(sem 0) with `flg`; exits 0 when it got it. */
static pid_t sleeper(int id, int flg) {
    pid_t c = fork();
    if (c == 0) _exit(op1(id, 0, -1, flg) == 0 ? 0 : 1);
    return c;
}

/* Stops `c` (asleep for 50 ms already: past its spin, in its futex wait). */
static int stop(pid_t c) {
    usleep(50000);
    int st = 0;
    return kill(c, SIGSTOP) == 0 && waitpid(c, &st, WUNTRACED) == c && WIFSTOPPED(st);
}

static void killed(pid_t c) {
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
}

/* Waits up to 5 s for `c` to exit; its exit status, or -1. */
static int exit_of(pid_t c) {
    for (int i = 0; i < 500; i++) {
        int st = 0;
        pid_t r = waitpid(c, &st, WNOHANG);
        if (r == c) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        usleep(10000);
    }
    killed(c);
    return -1;
}

int main(void) {
    int id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    ok(id >= 0, "semget");

    /* 1. Granted while stopped, then killed: the unit comes back. */
    pid_t a = sleeper(id, 0);
    ok(wait_ncnt(id, 0, 1), "a sleeper on P");
    ok(stop(a), "stopped in its wait");
    ok(op1(id, 0, 1, 0) == 0, "V while it is stopped");
    killed(a);
    ok(semctl(id, 0, GETVAL) == 1, "killed before collecting: the value is 1 again");
    ok(semctl(id, 0, GETNCNT) == 0, "and nobody is counted");
    semctl(id, 0, SETVAL, 0);

    /* 2. The same with a live sleeper queued behind it, and no read: the
     * unit reaches the live one by itself. */
    a = sleeper(id, 0);
    ok(wait_ncnt(id, 0, 1), "a first sleeper");
    pid_t b = sleeper(id, 0);
    ok(wait_ncnt(id, 0, 2), "a second behind it");
    ok(stop(a), "the first stopped");
    ok(op1(id, 0, 1, 0) == 0, "V");
    killed(a);
    ok(exit_of(b) == 0, "the first killed: the second gets the unit within 5 s");
    ok(semctl(id, 0, GETVAL) == 0, "value 0: one V, one P");

    /* 3. With SEM_UNDO: the adjustment is given back with the value (not
     * applied twice: the value must not end at 2). */
    a = sleeper(id, SEM_UNDO);
    ok(wait_ncnt(id, 0, 1), "a sleeper on P with SEM_UNDO");
    ok(stop(a), "stopped");
    ok(op1(id, 0, 1, 0) == 0, "V");
    killed(a);
    ok(semctl(id, 0, GETVAL) == 1, "killed before collecting: value 1, its undo not applied on top");

    /* 4. A wait-for-zero sleeper granted and killed changes nothing. */
    semctl(id, 0, SETVAL, 1);
    pid_t z = fork();
    if (z == 0) _exit(op1(id, 0, 0, 0) == 0 ? 0 : 1);
    for (int i = 0; i < 500 && semctl(id, 0, GETZCNT) != 1; i++) usleep(10000);
    ok(semctl(id, 0, GETZCNT) == 1, "a sleeper waiting for zero");
    ok(stop(z), "stopped");
    ok(op1(id, 0, -1, 0) == 0, "P to zero");
    killed(z);
    ok(semctl(id, 0, GETVAL) == 0 && semctl(id, 0, GETZCNT) == 0, "value 0, nobody counted");

    ok(semctl(id, 0, IPC_RMID) == 0, "IPC_RMID");
    return done_testing();
}
