/* t_sem_setall_kill.c — SETALL is all-or-nothing under SIGKILL: a child
 * loops SETALL of a 2000-semaphore set, alternating all-A and all-B, and
 * is killed with SIGKILL after a random short delay, 100 times; GETALL
 * must then read all-A or all-B (never a mix). Then SETVAL clears another
 * process's undo adjustment. Both backends; bounded to ~20 s. */
#pragma GCC diagnostic ignored "-Wcomment" /* the header comment names sys headers with a glob */
#include "ripc_sysv.h"
#include "tap.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 2000
#define ROUNDS 100
#define A 111
#define B 222

static unsigned short va[N], vb[N], got[N];

int main(void) {
    int id = semget(IPC_PRIVATE, N, IPC_CREAT | 0600);
    ok(id >= 0, "semget %d semaphores", N);
    for (int i = 0; i < N; i++) va[i] = A, vb[i] = B;
    ok(semctl(id, 0, SETALL, va) == 0, "SETALL all-A");
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    int mixed = 0, bad = 0, rounds = 0;
    double t0 = tap_now();
    for (int r = 0; r < ROUNDS && tap_now() - t0 < 18; r++) {
        int ready[2];
        if (pipe(ready) != 0) break;
        fflush(stdout);
        pid_t c = fork();
        if (c == 0) {
            close(ready[0]);
            (void)!write(ready[1], "r", 1);
            for (unsigned k = 0;; k++) semctl(id, 0, SETALL, (k & 1) ? vb : va);
        }
        close(ready[1]);
        char b;
        (void)!read(ready[0], &b, 1);
        close(ready[0]);
        usleep(200 + tap_xorshift(&rng) % 3000);
        kill(c, SIGKILL);
        int st;
        waitpid(c, &st, 0);
        rounds++;
        if (semctl(id, 0, GETALL, got) != 0) {
            bad++;
            continue;
        }
        int na = 0, nb = 0;
        for (int i = 0; i < N; i++) na += got[i] == A, nb += got[i] == B;
        if (na != N && nb != N) {
            if (mixed++ < 3) diag("round %d: %d A, %d B, %d other", r, na, nb, N - na - nb);
        }
    }
    ok(bad == 0, "GETALL worked after every kill (%d failures)", bad);
    ok(rounds >= ROUNDS / 2, "%d rounds in %.1f s", rounds, tap_now() - t0);
    ok(mixed == 0, "SETALL killed at random points: never a mix of old and new values (%d of %d mixed)", mixed,
       rounds);

    /* SETVAL goes through the same journal entry: it clears another
     * process's adjustment, so the value survives that process's exit. */
    int id2 = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    fflush(stdout);
    int go[2], done[2];
    if (pipe(go) != 0 || pipe(done) != 0) return 1;
    pid_t c = fork();
    if (c == 0) {
        struct sembuf up = {0, 5, SEM_UNDO};
        semop(id2, &up, 1);
        (void)!write(done[1], "u", 1);
        char b;
        (void)!read(go[0], &b, 1);
        _exit(0);
    }
    char b;
    (void)!read(done[0], &b, 1);
    ok(semctl(id2, 0, SETVAL, 7) == 0, "SETVAL 7 while another process holds an adjustment of +5");
    (void)!write(go[1], "g", 1);
    waitpid(c, NULL, 0);
    int v = semctl(id2, 0, GETVAL);
    ok(v == 7, "the adjustment was cleared by SETVAL: 7 after the adjuster exits (%d)", v);
    semctl(id2, 0, IPC_RMID);
    ok(semctl(id, 0, IPC_RMID) == 0, "IPC_RMID");
    return done_testing();
}
