/* t_shm_fork_rmid.c — the "attach, IPC_RMID, fork a worker, parent
 * detaches" idiom, 5 times: the worker keeps using the memory after the
 * parent's detach (no SIGBUS), shm_nattch is 2 after the fork and before
 * the parent detaches, and the segment is destroyed once the worker is
 * gone. Then once more with a child made by a raw fork system call (no
 * pthread_atfork handlers run, so ripc cannot count it): the parent's
 * detach destroys the segment, but must not take the memory from under
 * the child. Both backends. */
#pragma GCC diagnostic ignored "-Wcomment" /* the header comment names sys headers with a glob */
#include "ripc_sysv.h"
#include "tap.h"
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SZ (256 * 1024)

int main(void) {
    for (int round = 0; round < 5; round++) {
        int id = shmget(IPC_PRIVATE, SZ, IPC_CREAT | 0600);
        char *p = id >= 0 ? shmat(id, NULL, 0) : (void *)-1;
        if (!ok(p != (void *)-1, "round %d: shmget + shmat", round)) break;
        memset(p, 'a' + round, SZ);
        ok(shmctl(id, IPC_RMID, NULL) == 0, "round %d: IPC_RMID while attached", round);
        int go[2], res[2];
        if (pipe(go) != 0 || pipe(res) != 0) return 1;
        fflush(stdout);
        pid_t c = fork();
        if (c == 0) {
            alarm(10);
            char b;
            if (read(go[0], &b, 1) != 1) _exit(2);
            long good = 0;
            for (int i = 0; i < SZ; i += 4096) {
                good += p[i] == 'a' + round;
                p[i] = 'z'; /* write too */
            }
            (void)!write(res[1], &good, sizeof good);
            _exit(0);
        }
        struct shmid_ds ds;
        long n = shmctl(id, IPC_STAT, &ds) == 0 ? (long)ds.shm_nattch : -1;
        ok(n == 2, "round %d: nattch after fork is 2 (%ld)", round, n);
        ok(shmdt(p) == 0, "round %d: the parent detaches", round);
        n = shmctl(id, IPC_STAT, &ds) == 0 ? (long)ds.shm_nattch : -1;
        ok(n == 1, "round %d: the worker's attachment remains (nattch %ld)", round, n);
        ok(write(go[1], "g", 1) == 1, "round %d: worker told to go", round);
        long good = -1;
        (void)!read(res[0], &good, sizeof good);
        int st = 0;
        waitpid(c, &st, 0);
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && good == SZ / 4096,
           "round %d: the worker used the memory after the detach (status 0x%x%s, %ld pages)", round, st,
           WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS ? " SIGBUS" : "", good);
        ok_errno(shmctl(id, IPC_STAT, &ds) == -1, EINVAL, "round %d: destroyed once the worker is gone", round);
        close(go[0]); close(go[1]); close(res[0]); close(res[1]);
    }
    /* A child the library cannot see (raw fork: no atfork handlers). */
    int id = shmget(IPC_PRIVATE, SZ, IPC_CREAT | 0600);
    char *p = id >= 0 ? shmat(id, NULL, 0) : (void *)-1;
    ok(p != (void *)-1, "raw fork: shmget + shmat");
    if (p == (void *)-1) return done_testing();
    memset(p, 'r', SZ);
    ok(shmctl(id, IPC_RMID, NULL) == 0, "raw fork: IPC_RMID while attached");
    int go[2];
    if (pipe(go) != 0) return 1;
    fflush(stdout);
    long c = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
    if (c == 0) {
        char b;
        if (read(go[0], &b, 1) != 1) syscall(SYS_exit_group, 2);
        long good = 0;
        for (int i = 0; i < SZ; i += 4096) {
            good += p[i] == 'r';
            p[i] = 'z';
        }
        syscall(SYS_exit_group, good == SZ / 4096 ? 0 : 3);
    }
    ok(c > 0, "raw fork");
    ok(shmdt(p) == 0, "raw fork: the parent detaches");
    ok(write(go[1], "g", 1) == 1, "raw fork: child told to go");
    int st = 0;
    waitpid((pid_t)c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "raw fork: the child used the memory after the detach (status 0x%x%s)",
       st, WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS ? " SIGBUS" : "");
    struct shmid_ds ds;
    ok_errno(shmctl(id, IPC_STAT, &ds) == -1, EINVAL, "raw fork: destroyed once the child is gone");
    close(go[0]); close(go[1]);
    return done_testing();
}
