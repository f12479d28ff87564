/* t_shm_fork_many.c — a process holding an attachment forks more children
 * than a segment's attach table has slots (512), each exiting at once
 * without a library call, and nobody sweeps the segment in between (no
 * shmctl, no shmat: a fork loop as a pre-forking server's). The next
 * child must still be counted (shm_nattch 2 while it lives, 1 after):
 * the slots of the dead children are taken back when the table is full,
 * not left to a sweep that never comes. Both backends. */
#pragma GCC diagnostic ignored "-Wcomment" /* the header comment names sys headers with a glob */
#include "ripc_sysv.h"
#include "tap.h"
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILDREN 600

int main(void) {
    int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    char *p = id >= 0 ? shmat(id, NULL, 0) : (void *)-1;
    if (!ok(p != (void *)-1, "shmget + shmat")) return done_testing();
    p[0] = 1;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int made = 0;
    fflush(stdout);
    for (; made < CHILDREN; made++) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 60) break; /* bounded in time */
        pid_t k = fork();
        if (k == 0) _exit(p[0] == 1 ? 0 : 1);
        if (k < 0) break;
        int st = 0;
        waitpid(k, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) break;
    }
    ok(made == CHILDREN, "%d children forked, each saw the memory, and exited (%d)", CHILDREN, made);
    int go[2];
    if (pipe(go) != 0) return 1;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        alarm(30);
        char b;
        _exit(read(go[0], &b, 1) == 1 && p[0] == 1 ? 0 : 1);
    }
    struct shmid_ds ds;
    long n = shmctl(id, IPC_STAT, &ds) == 0 ? (long)ds.shm_nattch : -1;
    ok(n == 2, "the next child is counted: nattch 2 (%ld)", n);
    ok(write(go[1], "g", 1) == 1, "child told to go");
    int st = 0;
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child exited normally (status 0x%x)", st);
    n = shmctl(id, IPC_STAT, &ds) == 0 ? (long)ds.shm_nattch : -1;
    ok(n == 1, "after it: nattch 1 (%ld)", n);
    ok(shmdt(p) == 0, "shmdt");
    ok(shmctl(id, IPC_RMID, NULL) == 0, "IPC_RMID");
    close(go[0]);
    close(go[1]);
    return done_testing();
}
