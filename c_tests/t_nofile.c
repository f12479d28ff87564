/* t_nofile.c — a full descriptor table never breaks mutual exclusion
 * (issue "never hang, never crash", item 2: liveness errs toward safety),
 * both backends.
 *
 * A holder takes a SEM_UNDO mutex (value 1 -> 0) and stays alive; a
 * waiter asks for it with a 300 ms timeout. It must time out: the mutex
 * is held by a live process. Three placements of an exhausted descriptor
 * table (RLIMIT_NOFILE filled to the last descriptor before the first
 * ripc call of that process): the waiter's, the holder's, both. Before,
 * an unreadable /proc/<pid>/stat meant "dead" (the waiter was granted the
 * mutex after ~50 ms), and a holder that could not read its own start
 * time recorded 1, which others took for a recycled pid. */
#include "ripc_sysv.h"
#include "tap.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

/* Opens /dev/null until the table is full (RLIMIT_NOFILE lowered to 32
 * first, so that this is quick). */
static void exhaust(void) {
    struct rlimit rl = {32, 32};
    setrlimit(RLIMIT_NOFILE, &rl);
    while (open("/dev/null", O_RDONLY) >= 0) {
    }
}

/* One round: returns 1 when the waiter was (rightly) refused. */
static int round_(int s, int holder_full, int waiter_full) {
    int ready[2];
    if (pipe(ready) != 0) return 0;
    fflush(stdout);
    pid_t h = fork();
    if (h == 0) {
        alarm(20);
        if (holder_full) exhaust();
        struct sembuf p = {0, -1, SEM_UNDO};
        if (semop(s, &p, 1) != 0) _exit(1);
        char c = 1;
        if (write(ready[1], &c, 1) != 1) _exit(2);
        pause(); /* holds the mutex, alive, until killed */
        _exit(0);
    }
    char c;
    close(ready[1]);
    int got = read(ready[0], &c, 1) == 1;
    close(ready[0]);
    if (!got) {
        kill(h, SIGKILL);
        waitpid(h, NULL, 0);
        return 0;
    }
    pid_t w = fork();
    if (w == 0) {
        alarm(20);
        if (waiter_full) exhaust();
        struct sembuf p = {0, -1, SEM_UNDO};
        struct timespec to = {0, 300 * 1000000};
        int r = semtimedop(s, &p, 1, &to);
        _exit(r == -1 && errno == EAGAIN ? 0 : 3);
    }
    int st = -1;
    waitpid(w, &st, 0);
    kill(h, SIGKILL);
    waitpid(h, NULL, 0);
    /* The holder's undo gives the value back once it is gone. */
    struct sembuf p = {0, -1, IPC_NOWAIT}, v = {0, 1, 0};
    int back = 0;
    for (int i = 0; i < 200 && !back; i++) {
        back = semop(s, &p, 1) == 0;
        if (!back) {
            struct timespec ts = {0, 10 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    if (back) semop(s, &v, 1);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && back;
}

int main(void) {
    int s = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    ok(s >= 0 && semctl(s, 0, SETVAL, 1) == 0, "a mutex (value 1)");
    ok(round_(s, 0, 1), "waiter's descriptor table full: a live holder keeps the mutex (waiter times out), released at its death");
    ok(round_(s, 1, 0), "holder's descriptor table full: likewise");
    ok(round_(s, 1, 1), "both full: likewise");
    ok(semctl(s, 0, IPC_RMID) == 0, "removed");
    return done_testing();
}
