/* t_sem_bank.c — seed 000's P/V story, exactly: the bank holds 100; A
 * borrows 80 (P 80); B asks for 50 and must wait; A returns 30 (V 30); only
 * then does B get its 50, leaving 0. Then a large request queued first is
 * served before a smaller one queued after it (FIFO, no starvation).
 * Drop-in API; runs under both backends. */
#pragma GCC diagnostic ignored "-Wcomment" /* the header comment names sys headers with a glob */
#include "ripc_sysv.h"
#include "tap.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static int op1(int id, int op) {
    struct sembuf b = {0, (short)op, 0};
    return semop(id, &b, 1);
}

static int wait_ncnt(int id, int want) {
    for (int i = 0; i < 500; i++) {
        if (semctl(id, 0, GETNCNT) == want) return 1;
        usleep(10000);
    }
    return 0;
}

static void say(int fd, char c) {
    if (write(fd, &c, 1) != 1) _exit(3);
}

int main(void) {
    int id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    ok(id >= 0, "a set with one semaphore: the bank");
    ok(semctl(id, 0, SETVAL, 100) == 0, "SETVAL 100: the bank holds 100");

    int log[2], go[2];
    if (pipe(log) || pipe(go)) return 1;
    pid_t a = fork();
    if (a == 0) { /* A borrows 80, waits for the signal, returns 30 */
        char c;
        if (op1(id, -80)) _exit(1);
        say(log[1], 'a');
        if (read(go[0], &c, 1) != 1) _exit(2);
        say(log[1], 'r');
        _exit(op1(id, 30) ? 1 : 0);
    }
    char c = 0;
    ok(read(log[0], &c, 1) == 1 && c == 'a', "A borrowed 80 (P 80)");
    ok(semctl(id, 0, GETVAL) == 20, "the bank holds 20");

    pid_t b = fork();
    if (b == 0) { /* B asks for 50 */
        if (op1(id, -50)) _exit(1);
        say(log[1], 'b');
        _exit(0);
    }
    ok(wait_ncnt(id, 1), "B asks for 50 and waits (GETNCNT 1)");
    usleep(100000);
    int st;
    ok(waitpid(b, &st, WNOHANG) == 0, "B is still waiting");
    ok(semctl(id, 0, GETVAL) == 20, "the 20 in the bank are untouched");

    say(go[1], 'g');
    ok(read(log[0], &c, 1) == 1 && c == 'r', "A returns 30 (V 30)");
    ok(read(log[0], &c, 1) == 1 && c == 'b', "only then does B get its 50");
    waitpid(a, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "A done");
    waitpid(b, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "B done");
    ok(semctl(id, 0, GETVAL) == 0, "the bank holds 0");
    ok(semctl(id, 0, GETNCNT) == 0, "nobody waits");

    /* FIFO: a big request queued first is not overtaken by a small one. */
    pid_t big = fork();
    if (big == 0) { if (op1(id, -50)) _exit(1); say(log[1], 'B'); _exit(0); }
    ok(wait_ncnt(id, 1), "a request for 50 waits");
    pid_t small = fork();
    if (small == 0) { if (op1(id, -10)) _exit(1); say(log[1], 's'); _exit(0); }
    ok(wait_ncnt(id, 2), "then a request for 10 waits");
    ok(op1(id, 50) == 0, "50 come back");
    ok(read(log[0], &c, 1) == 1 && c == 'B', "the request for 50, queued first, gets them");
    usleep(100000);
    ok(waitpid(small, &st, WNOHANG) == 0 && semctl(id, 0, GETNCNT) == 1, "the request for 10 still waits");
    ok(op1(id, 10) == 0, "10 come back");
    ok(read(log[0], &c, 1) == 1 && c == 's', "the request for 10 gets them");
    waitpid(big, &st, 0);
    waitpid(small, &st, 0);
    ok(semctl(id, 0, GETVAL) == 0, "the bank holds 0");
    ok(semctl(id, 0, IPC_RMID) == 0, "IPC_RMID");
    return done_testing();
}
