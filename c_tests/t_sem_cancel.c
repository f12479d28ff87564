/* t_sem_cancel.c — a timed semop that gives up is never also performed
 * (docs/bounded-time.md: sleepers cancel without the lock when a holder
 * is stalled; granters claim before they commit), both backends.
 *
 * Four waiters loop semtimedop(P, 5 ms), counting their successes in
 * shared memory; a releaser performs exactly V_TOTAL V operations; a
 * third process keeps operating on the set (taking its lock) and is
 * SIGSTOPped for 20-40 ms at random moments, so that waiters whose
 * deadline passes often cannot get the lock to leave and cancel without
 * it. At the end every unit is accounted for: successes + the value left
 * == V_TOTAL. An operation both performed and reported as a timeout would
 * lose a unit. */
#include "ripc_sysv.h"
#include "tap.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>

#define WAITERS 4
#define V_TOTAL 3000

static void nap_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

int main(void) {
    int s = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    ok(s >= 0, "a set");
    atomic_long *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    atomic_long *got = shared, *stop = shared + 1, *timeouts = shared + 2, *bad = shared + 3;
    pid_t w[WAITERS];
    for (int i = 0; i < WAITERS; i++) {
        w[i] = fork();
        if (w[i] == 0) {
            alarm(60);
            struct sembuf p = {0, -1, 0};
            struct timespec to = {0, 5 * 1000000};
            while (!atomic_load(stop)) {
                if (semtimedop(s, &p, 1, &to) == 0)
                    atomic_fetch_add(got, 1);
                else if (errno == EAGAIN)
                    atomic_fetch_add(timeouts, 1);
                else if (errno != EINTR)
                    atomic_fetch_add(bad, 1);
            }
            _exit(0);
        }
    }
    pid_t busy = fork();
    if (busy == 0) {
        /* Takes the set's lock over and over (semaphore 1: not the one
         * counted). */
        struct sembuf v = {1, 1, 0}, p = {1, -1, 0};
        alarm(60);
        for (;;) {
            semop(s, &v, 1);
            semop(s, &p, 1);
        }
    }
    pid_t rel = fork();
    if (rel == 0) {
        struct sembuf v = {0, 1, 0};
        alarm(60);
        for (int i = 0; i < V_TOTAL; i++) {
            if (semop(s, &v, 1) != 0) _exit(1);
            if (i % 8 == 0) nap_us(500);
        }
        _exit(0);
    }
    uint64_t rng = 0x51ed27c1a3b9d4f7ull;
    int st = -1;
    double t0 = tap_now();
    while (waitpid(rel, &st, WNOHANG) == 0 && tap_now() - t0 < 40) {
        nap_us(2000 + (long)(tap_xorshift(&rng) % 5000));
        kill(busy, SIGSTOP);
        nap_us(20000 + (long)(tap_xorshift(&rng) % 20000));
        kill(busy, SIGCONT);
    }
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the releaser made its %d V operations", V_TOTAL);
    kill(busy, SIGKILL);
    kill(busy, SIGCONT);
    waitpid(busy, NULL, 0);
    /* Let the waiters take what is left, then stop them. */
    for (int i = 0; i < 200 && semctl(s, 0, GETVAL) > 0; i++) nap_us(10000);
    atomic_store(stop, 1);
    for (int i = 0; i < WAITERS; i++) waitpid(w[i], NULL, 0);
    long left = semctl(s, 0, GETVAL);
    ok(atomic_load(bad) == 0, "every failure was a timeout (%ld others)", (long)atomic_load(bad));
    ok(atomic_load(got) + left == V_TOTAL, "every unit accounted for: %ld taken + %ld left == %d (%ld timeouts)",
       (long)atomic_load(got), left, V_TOTAL, (long)atomic_load(timeouts));
    ok(semctl(s, 0, IPC_RMID) == 0, "removed");
    return done_testing();
}
