/* t_fork_threads.c — fork from a multithreaded program (issue "never
 * hang, never crash", item 3), both backends.
 *
 * A second thread keeps creating, using and removing queues and sets
 * (the paths that take the library's process-wide locks: the namespace's
 * object cache, first-use initialisation), while the main thread forks 600
 * children. Each child, whose only thread is a copy of the forking one,
 * uses a queue and a set once and exits. A lock inherited held from the
 * other thread would hang the child for ever: every child must be done
 * within 10 s. (The issue saw 3 hung of 60; against the library before
 * the fix, d051438, 60 children hung 1 in 3 runs, 600 hung 4, 2 and 7 in 3
 * runs of 3.) */
#include "ripc_sysv.h"
#include "tap.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#define CHILDREN 600

static atomic_int stop;

static void *churn(void *arg) {
    (void)arg;
    struct {
        long t;
        char b[16];
    } m = {1, "churn"};
    int qs[4];
    for (int i = 0; i < 4; i++) qs[i] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    while (!atomic_load(&stop)) {
        /* Alternating between queues: each call looks its queue up in the
         * process-wide cache. */
        for (int k = 0; k < 64; k++) {
            msgsnd(qs[k % 4], &m, sizeof m.b, IPC_NOWAIT);
            msgrcv(qs[k % 4], &m, sizeof m.b, 0, IPC_NOWAIT);
        }
        int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        int s = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
        if (q >= 0) {
            msgsnd(q, &m, sizeof m.b, IPC_NOWAIT);
            msgrcv(q, &m, sizeof m.b, 0, IPC_NOWAIT);
            msgctl(q, IPC_RMID, NULL);
        }
        if (s >= 0) semctl(s, 0, IPC_RMID);
    }
    for (int i = 0; i < 4; i++) msgctl(qs[i], IPC_RMID, NULL);
    return NULL;
}

int main(void) {
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    int s = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    ok(q >= 0 && s >= 0, "a queue and a set for the children");
    pthread_t th;
    ok(pthread_create(&th, NULL, churn, NULL) == 0, "a thread churning through queues and sets");
    pid_t kids[CHILDREN];
    for (int i = 0; i < CHILDREN; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            alarm(10);
            struct {
                long t;
                char b[16];
            } m = {2, "child"};
            struct sembuf v = {0, 1, 0};
            int q2 = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
            int ok_ = q2 >= 0 && msgsnd(q, &m, sizeof m.b, 0) == 0 && semop(s, &v, 1) == 0 &&
                      msgctl(q2, IPC_RMID, NULL) == 0;
            _exit(ok_ ? 0 : 1);
        }
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
    int done = 0, hung = 0, failed = 0;
    double t0 = tap_now();
    for (int i = 0; i < CHILDREN; i++) {
        int st;
        while (waitpid(kids[i], &st, WNOHANG) == 0) {
            if (tap_now() - t0 > 12) {
                kill(kids[i], SIGKILL);
                waitpid(kids[i], &st, 0);
                break;
            }
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            done++;
        else if (WIFSIGNALED(st))
            hung++;
        else
            failed++;
    }
    atomic_store(&stop, 1);
    pthread_join(th, NULL);
    ok(done == CHILDREN, "all %d children of a multithreaded process used a queue and a set (%d hung, %d failed)",
       CHILDREN, hung, failed);
    struct msqid_ds ds;
    ok(msgctl(q, IPC_STAT, &ds) == 0 && ds.msg_qnum == (msgqnum_t)done, "their %d messages arrived", done);
    ok(semctl(s, 0, GETVAL) == done, "their %d semaphore releases counted", done);
    ok(msgctl(q, IPC_RMID, NULL) == 0 && semctl(s, 0, IPC_RMID) == 0, "removed");
    return done_testing();
}
