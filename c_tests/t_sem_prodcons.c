/* t_sem_prodcons.c — the pattern the articles recommend: shared memory
 * guarded by semaphores. A ring of 16 slots in a System V segment; one
 * semaphore counts free slots, one counts used slots, a third is the
 * mutex (with SEM_UNDO). Two producers and two consumers pass 20000 items
 * each way; the consumers' checksum must match the producers'. Drop-in
 * API (shmget/shmat + semget/semop); both backends. */
#pragma GCC diagnostic ignored "-Wcomment" /* the header comment names sys headers with a glob */
#include "ripc_sysv.h"
#include "tap.h"
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOTS 16
#define ITEMS 20000 /* per producer */
enum { FREE, USED, MUTEX };

struct ring {
    unsigned head, tail;
    unsigned long long consumed_sum, consumed_n;
    unsigned data[SLOTS];
};

static int sem_do(int id, int num, int op, int flg) {
    struct sembuf b = {(unsigned short)num, (short)op, (short)flg};
    return semop(id, &b, 1);
}

static void producer(int sem, struct ring *r, unsigned base) {
    for (unsigned i = 1; i <= ITEMS; i++) {
        if (sem_do(sem, FREE, -1, 0) || sem_do(sem, MUTEX, -1, SEM_UNDO)) _exit(1);
        r->data[r->head] = base + i;
        r->head = (r->head + 1) % SLOTS;
        if (sem_do(sem, MUTEX, 1, SEM_UNDO) || sem_do(sem, USED, 1, 0)) _exit(1);
    }
    _exit(0);
}

static void consumer(int sem, struct ring *r, int n) {
    for (int i = 0; i < n; i++) {
        if (sem_do(sem, USED, -1, 0) || sem_do(sem, MUTEX, -1, SEM_UNDO)) _exit(1);
        unsigned v = r->data[r->tail];
        r->tail = (r->tail + 1) % SLOTS;
        r->consumed_sum += v;
        r->consumed_n++;
        if (sem_do(sem, MUTEX, 1, SEM_UNDO) || sem_do(sem, FREE, 1, 0)) _exit(1);
    }
    _exit(0);
}

int main(void) {
    int shm = shmget(IPC_PRIVATE, sizeof(struct ring), IPC_CREAT | 0600);
    ok(shm >= 0, "shmget: a segment for the ring");
    struct ring *r = shmat(shm, NULL, 0);
    ok(r != (void *)-1, "shmat");
    if (shm < 0 || r == (void *)-1) return done_testing();
    memset(r, 0, sizeof *r);
    int sem = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
    ok(sem >= 0, "semget: free, used, mutex");
    unsigned short init[3] = {SLOTS, 0, 1};
    ok(semctl(sem, 0, SETALL, init) == 0, "SETALL 16, 0, 1");

    pid_t kids[4];
    kids[0] = fork();
    if (kids[0] == 0) producer(sem, r, 0);
    kids[1] = fork();
    if (kids[1] == 0) producer(sem, r, 1000000);
    kids[2] = fork();
    if (kids[2] == 0) consumer(sem, r, ITEMS);
    kids[3] = fork();
    if (kids[3] == 0) consumer(sem, r, ITEMS);
    int good = 0;
    for (int i = 0; i < 4; i++) {
        int st;
        waitpid(kids[i], &st, 0);
        good += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    ok(good == 4, "two producers and two consumers finished");
    unsigned long long n = ITEMS;
    unsigned long long want = 2 * (n * (n + 1) / 2) + n * 1000000ULL;
    ok(r->consumed_n == 2 * n, "%llu items consumed", r->consumed_n);
    ok(r->consumed_sum == want, "checksum %llu (want %llu)", r->consumed_sum, want);
    ok(semctl(sem, FREE, GETVAL) == SLOTS && semctl(sem, USED, GETVAL) == 0 && semctl(sem, MUTEX, GETVAL) == 1,
       "the ring is empty again, the mutex free");
    ok(semctl(sem, 0, IPC_RMID) == 0, "semctl IPC_RMID");
    ok(shmdt(r) == 0 && shmctl(shm, IPC_RMID, NULL) == 0, "shmdt, shmctl IPC_RMID");
    return done_testing();
}
