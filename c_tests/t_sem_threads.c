/* t_sem_threads.c — threads of one process share its identity: four
 * threads increment a counter guarded by a semaphore mutex (SEM_UNDO), so
 * they contend, sleep and wake each other; the count must be exact and the
 * process's undo adjustment must net out to zero. Drop-in API; both
 * backends. */
#pragma GCC diagnostic ignored "-Wcomment" /* the header comment names sys headers with a glob */
#include "ripc_sysv.h"
#include "tap.h"
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 4
#define ITERS 20000

static int id;
static volatile long counter;

static void *worker(void *arg) {
    (void)arg;
    struct sembuf p = {0, -1, SEM_UNDO}, v = {0, 1, SEM_UNDO};
    for (int i = 0; i < ITERS; i++) {
        if (semop(id, &p, 1)) return (void *)1;
        long c = counter;
        if (i % 64 == 0) sched_yield(); /* hold it a little, so others sleep */
        counter = c + 1;
        if (semop(id, &v, 1)) return (void *)1;
    }
    return NULL;
}

int main(void) {
    id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    ok(id >= 0 && semctl(id, 0, SETVAL, 1) == 0, "a mutex at 1");
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, NULL);
    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += r != NULL;
    }
    ok(bad == 0, "every thread's semop calls succeeded");
    ok(counter == (long)THREADS * ITERS, "counter %ld (want %d): mutual exclusion held", counter, THREADS * ITERS);
    ok(semctl(id, 0, GETVAL) == 1 && semctl(id, 0, GETNCNT) == 0, "the mutex is free, nobody waits");
    /* The threads' adjustments are the process's: they net out, so a child
     * that exits changes nothing and the value stays 1 after our own exit
     * would too. Check with a P(SEM_UNDO) in a forked child. */
    pid_t c = fork();
    if (c == 0) {
        struct sembuf p = {0, -1, SEM_UNDO};
        _exit(semop(id, &p, 1) ? 1 : 0);
    }
    int st;
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && semctl(id, 0, GETVAL) == 1, "a child's P with SEM_UNDO is undone at its exit");
    ok(semctl(id, 0, IPC_RMID) == 0, "IPC_RMID");
    return done_testing();
}
