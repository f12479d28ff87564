/* t_sem_lockfree.c — the lock-free semop path beside the locked ones
 * (src/sem/fast.rs), under both backends.
 *
 * 1. No lost update: four processes mix lock-free single operations
 *    (P/V on one semaphore, waits for zero), atomic two-semaphore
 *    transfers and SEM_UNDO operations (the locked paths) and GETALL on
 *    one set for a second; the totals must come out exact.
 * 2. Killed holders: processes looping SEM_UNDO P/V (their first
 *    operation under the lock, the rest claiming the word) are SIGKILLed
 *    at random while
 *    others loop lock-free P/V on the same semaphore; afterwards the
 *    value is back where it started (every undo applied, every lock-free
 *    operation counted) and, under ripc, no word is left frozen.
 * 3. User backend only: a stopped lock holder. The set's lock word names a
 *    live process that maps the set and is stopped (SIGSTOP), and
 *    semaphore 0's word is frozen, as when a holder is stopped in the
 *    middle of an operation. Untimed calls then wait only for what the
 *    kernel would wait for: a V and a P on another semaphore return at
 *    once; a P that must wait returns soon after a V by another process,
 *    whether it came before the holder stopped (a sleeper, served by
 *    itself) or after (waiting for the lock, trying again; it moves the
 *    set away from the holder, the sleeper with it); an IPC_NOWAIT
 *    operation on the frozen semaphore is then performed (before the
 *    sleepers followed a move: EAGAIN). Before the lock-free path, each
 *    of these untimed calls waited until the holder was continued.
 *    A process that took its undo slot before the stop also completes
 *    untimed SEM_UNDO P and V there (lock-free since layout 5; before,
 *    they waited for the lock until the holder was continued).
 * 4. The first lock-free operation on a set racing SEM_UNDO operations,
 *    which until then do not freeze the word (150 fresh sets).
 * 5. Killed inside the lock-free SEM_UNDO path: loopers of SEM_UNDO P/V
 *    on two semaphores (each operation: intent record, claim, adjustment,
 *    release store) SIGKILLed at random, at least 200 times, beside
 *    lock-free plain P/V; at the end the values are the kernel's (every
 *    dead process's adjustment applied once, every claim finished or
 *    undone) and, under ripc, no word is left frozen or claimed.
 * 6. SEM_UNDO beside SETVAL, SETALL and IPC_RMID: lock-free SEM_UNDO P/V,
 *    a two-semaphore SEM_UNDO operation (locked), plain transfers
 *    (locked) and plain P/V (lock-free) on one set while the parent sets
 *    values; GETALL consistent throughout, and once every worker has
 *    exited (its undo applied) the values are exactly what the last
 *    SETVAL/SETALL gave (the kernel's answer: a SETVAL clears every
 *    adjustment of its semaphore). Then IPC_RMID under the same traffic:
 *    every worker ends with EIDRM or EINVAL, none hangs.
 * 7. Threads: a process of 12 threads (more than the 8 intent records of
 *    a process: the others take the lock) looping SEM_UNDO P/V on two
 *    semaphores, some threads on the same one, SIGKILLed at random 40
 *    times: the values come back exact, no word left frozen or claimed.
 *
 * Every child runs under alarm(); the parent kills what it started.
 */
#include <ripc.h>

#include "ripc_sysv.h"
#include "tap.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng = 0x2545f4914f6cdd1dull;

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static int op1(int s, int num, int op, int flg) {
    struct sembuf b = {(unsigned short)num, (short)op, (short)flg};
    return semop(s, &b, 1);
}

/* ---- 1. no lost update ------------------------------------------------ */

/* Semaphores: 0 and 1 hold 1000 each (transfers between them keep the
 * sum); 2 holds 3 (taken and given back, lock-free and with SEM_UNDO); 3
 * stays 0 (waits for zero on it succeed). */
static void worker(int s, int kind, double until) {
    alarm(30);
    long n = 0;
    while (tap_now() < until) {
        switch (kind) {
        case 0: { /* lock-free P/V and a wait for zero */
            if (op1(s, 0, -1, 0) || op1(s, 0, 1, 0)) _exit(10);
            if (op1(s, 2, -1, 0) || op1(s, 2, 1, 0)) _exit(11);
            if (op1(s, 3, 0, 0)) _exit(12);
            break;
        }
        case 1: { /* atomic transfers (the locked path) */
            struct sembuf t[2] = {{0, -1, 0}, {1, 1, 0}};
            struct sembuf u[2] = {{1, -1, 0}, {0, 1, 0}};
            if (semop(s, t, 2) || semop(s, u, 2)) _exit(20);
            break;
        }
        case 2: { /* SEM_UNDO on the lock-free workers' semaphores */
            if (op1(s, 2, -1, SEM_UNDO) || op1(s, 2, 1, SEM_UNDO)) _exit(30);
            if (op1(s, 1, -1, SEM_UNDO) || op1(s, 1, 1, SEM_UNDO)) _exit(31);
            break;
        }
        default: { /* lock-free on semaphore 1, the transfers' other end */
            if (op1(s, 1, -2, 0) || op1(s, 1, 2, 0)) _exit(40);
            break;
        }
        }
        n++;
    }
    _exit(n > 0 ? 0 : 50);
}

static void no_lost_update(void) {
    int s = semget(IPC_PRIVATE, 4, IPC_CREAT | 0600);
    unsigned short init[4] = {1000, 1000, 3, 0};
    ok(s >= 0 && semctl(s, 0, SETALL, init) == 0, "a set of 4: 1000, 1000, 3, 0");
    double until = tap_now() + 1.0;
    pid_t c[4];
    for (int k = 0; k < 4; k++) {
        c[k] = fork();
        if (c[k] == 0) worker(s, k, until);
    }
    int bad_sum = 0, reads = 0;
    while (tap_now() < until) {
        unsigned short v[4];
        if (semctl(s, 0, GETALL, v) == 0) {
            reads++;
            /* In flight: one transfer (0 -> 1 or back) and a P of 2 on
             * semaphore 1, one of 1 on semaphore 0 and 1: the sum of 0
             * and 1 is within 2000 - 4 .. 2000. */
            int sum = v[0] + v[1];
            if (sum > 2000 || sum < 1996 || v[2] > 3 || v[3] != 0) bad_sum++;
        }
        sleep_us(2000);
    }
    int failed = 0;
    for (int k = 0; k < 4; k++) {
        int st;
        waitpid(c[k], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            failed++;
            diag("worker %d: status 0x%x", k, st);
        }
    }
    ok(failed == 0, "four workers mixing lock-free, two-semaphore and SEM_UNDO operations for 1 s");
    ok(bad_sum == 0 && reads > 0, "GETALL always consistent (%d of %d readings off)", bad_sum, reads);
    unsigned short v[4] = {0, 0, 0, 0};
    semctl(s, 0, GETALL, v);
    ok(v[0] == 1000 && v[1] == 1000 && v[2] == 3 && v[3] == 0, "the values come out exact: %u %u %u %u",
       v[0], v[1], v[2], v[3]);
    ok(semctl(s, 0, IPC_RMID) == 0, "removed");
}

/* ---- 2. killed holders ------------------------------------------------- */

static int is_user(void) { return !backend_is_kernel(); }

/* Under ripc: semaphore `num`'s word in the set's file (object header 256
 * bytes, set header 128, then 8 bytes per semaphore: value and flags in
 * the low 32 bits). */
#define SEM_WORD(num) (256 + 128 + 8 * (num))
#define FROZEN_BIT (1u << 31)

static uint32_t word_low(int s, int num) {
    unsigned char *m = tap_map_object("sem", s);
    if (!m) return 0xffffffffu;
    uint32_t w;
    memcpy(&w, m + SEM_WORD(num), sizeof w);
    munmap(m, 4096);
    return w;
}

static void killed_holders(void) {
    int s = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    ok(s >= 0 && semctl(s, 0, SETVAL, 4) == 0, "a set, value 4");
    /* The lock-free loopers run until told to stop: at least 1.4 s and 20
     * kills, whichever comes later (a loaded machine forks slowly), 30 s
     * at most. */
    volatile int *go = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (go == MAP_FAILED) {
        ok(0, "mmap: %s", strerror(errno));
        return;
    }
    *go = 1;
    double t0 = tap_now();
    pid_t fastp[2];
    for (int k = 0; k < 2; k++) {
        fastp[k] = fork();
        if (fastp[k] == 0) {
            alarm(60);
            while (*go)
                if (op1(s, 0, -1, 0) || op1(s, 0, 1, 0)) _exit(1);
            _exit(0);
        }
    }
    int kills = 0;
    while ((tap_now() - t0 < 1.4 || kills < 20) && tap_now() - t0 < 30) {
        pid_t u = fork();
        if (u == 0) {
            alarm(30);
            for (;;)
                if (op1(s, 0, -1, SEM_UNDO) || op1(s, 0, 1, SEM_UNDO)) _exit(1);
        }
        sleep_us(200 + (long)(tap_xorshift(&rng) % 3000));
        kill(u, SIGKILL);
        waitpid(u, NULL, 0);
        kills++;
    }
    *go = 0;
    int failed = 0;
    for (int k = 0; k < 2; k++) {
        int st;
        waitpid(fastp[k], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) failed++;
    }
    munmap((void *)go, sizeof(int));
    ok(failed == 0 && kills >= 20, "lock-free P/V went on while %d SEM_UNDO loopers were SIGKILLed (%.1f s; %d of 2 failed)",
       kills, tap_now() - t0, failed);
    int v = semctl(s, 0, GETVAL);
    ok(v == 4, "the value is back to 4 (every undo applied): %d", v);
    if (is_user()) {
        /* One more operation under the lock (GETVAL above swept): then
         * the word must be thawed. */
        op1(s, 0, -1, SEM_UNDO);
        op1(s, 0, 1, SEM_UNDO);
        uint32_t w = word_low(s, 0);
        ok(w != 0xffffffffu && (w & FROZEN_BIT) == 0, "no word left frozen (low word 0x%x)", w);
    } else {
        ok(1, "# SKIP the frozen bit is ripc's");
    }
    ok(semctl(s, 0, IPC_RMID) == 0, "removed");
}

/* ---- 3. a stopped lock holder ------------------------------------------ */

/* The object header's lock (src/sync/lock.rs: u32 word, u32 pad, u64
 * owner start) at 40. */
#define OBJ_LOCK 40

/* A child that waits in an untimed P on `num` and reports, through its
 * exit status, 0 when it got through. */
static pid_t waiter(int s, int num) {
    pid_t w = fork();
    if (w == 0) {
        alarm(20);
        _exit(op1(s, num, -1, 0) == 0 ? 0 : 1);
    }
    return w;
}

/* Waits up to `max` s for `w` to exit; returns the seconds it took, or -1. */
static double reap_within(pid_t w, double max, int *status) {
    double t0 = tap_now();
    while (tap_now() - t0 < max) {
        if (waitpid(w, status, WNOHANG) == w) return tap_now() - t0;
        sleep_us(500);
    }
    return -1;
}

static void stopped_holder(void) {
    if (!is_user()) {
        ok(1, "# SKIP the stopped holder is forged in ripc's object file (kernel backend)");
        return;
    }
    int s = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
    unsigned short init[3] = {1, 1, 0};
    ok(s >= 0 && semctl(s, 0, SETALL, init) == 0, "a set of 3: 1, 1, 0");
    /* A sleeper that came before the holder stopped. */
    pid_t early = waiter(s, 2);
    for (int i = 0; i < 200 && semctl(s, 2, GETNCNT) < 1; i++) sleep_us(1000);
    ok(semctl(s, 2, GETNCNT) == 1, "a sleeper waits on semaphore 2");
    /* The holder: maps the set (one operation), then stops. */
    /* A SEM_UNDO user that takes its undo slot now (under the lock), and
     * operates again once the holder is stopped. */
    int go[2], ready[2];
    if (pipe(go) || pipe(ready)) go[0] = go[1] = ready[0] = ready[1] = -1;
    pid_t undo = fork();
    if (undo == 0) {
        alarm(20);
        char ch;
        close(go[1]);
        close(ready[0]);
        if (op1(s, 1, -1, SEM_UNDO) || op1(s, 1, 1, SEM_UNDO)) _exit(2);
        if (write(ready[1], "r", 1) != 1 || read(go[0], &ch, 1) != 1) _exit(3);
        double t0 = tap_now();
        int r = op1(s, 1, -1, SEM_UNDO);
        double t1 = tap_now();
        int r2 = op1(s, 1, 1, SEM_UNDO);
        double t2 = tap_now();
        printf("# SEM_UNDO P and V on semaphore 1 with the holder stopped: %d %d in %.2f and %.2f ms\n", r, r2,
               (t1 - t0) * 1e3, (t2 - t1) * 1e3);
        fflush(stdout);
        /* Each may wait ~10 ms for the lock to grant the sleeper on the
         * set, then wake it instead; waiting for the holder would be for
         * ever (the alarm). */
        _exit(r == 0 && r2 == 0 && t2 - t0 < 0.2 ? 0 : 1);
    }
    close(go[0]);
    close(ready[1]);
    char ch;
    ok(read(ready[0], &ch, 1) == 1, "a SEM_UNDO user has its undo slot");
    close(ready[0]);
    pid_t h = fork();
    if (h == 0) {
        alarm(60);
        op1(s, 1, 0, IPC_NOWAIT); /* maps the set; its result is irrelevant */
        raise(SIGSTOP);
        _exit(0);
    }
    int st;
    waitpid(h, &st, WUNTRACED);
    unsigned char *m = tap_map_object("sem", s);
    unsigned long long hs = tap_start_time(h);
    ok(WIFSTOPPED(st) && m && hs, "the holder maps the set and is stopped");
    if (!m || !hs) {
        kill(h, SIGKILL);
        kill(early, SIGKILL);
        kill(undo, SIGKILL);
        return;
    }
    uint32_t hp = (uint32_t)h, w0;
    memcpy(m + OBJ_LOCK, &hp, sizeof hp);
    memcpy(m + OBJ_LOCK + 8, &hs, sizeof hs);
    memcpy(&w0, m + SEM_WORD(0), sizeof w0);
    w0 |= FROZEN_BIT;
    memcpy(m + SEM_WORD(0), &w0, sizeof w0);

    /* Each untimed call in a child of its own, bounded. */
    pid_t c = fork();
    if (c == 0) {
        alarm(10);
        double t0 = tap_now();
        int r = op1(s, 1, 1, 0);
        double t1 = tap_now();
        int r2 = op1(s, 1, -1, 0);
        double t2 = tap_now();
        printf("# V and P on semaphore 1 with the holder stopped: %d %d in %.2f and %.2f ms\n", r, r2,
               (t1 - t0) * 1e3, (t2 - t1) * 1e3);
        fflush(stdout);
        _exit(r == 0 && r2 == 0 && t2 - t0 < 0.05 ? 0 : 1);
    }
    double dt = reap_within(c, 3.0, &st);
    ok(dt >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "untimed V and P on a semaphore it did not freeze: within 50 ms");
    if (write(go[1], "g", 1) != 1) diag("pipe: %s", strerror(errno));
    close(go[1]);
    dt = reap_within(undo, 3.0, &st);
    ok(dt >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "untimed SEM_UNDO P and V there (undo slot taken before): within 200 ms (status 0x%x)", st);
    if (dt < 0) kill(undo, SIGKILL), waitpid(undo, NULL, 0);

    /* A P that must wait, arriving while the holder is stopped. */
    pid_t late = fork();
    if (late == 0) {
        alarm(20);
        _exit(op1(s, 1, -2, 0) == 0 ? 0 : 1); /* value 1: must wait */
    }
    sleep_us(100000);
    int still = waitpid(late, &st, WNOHANG) == 0;
    double t0 = tap_now();
    int rv = op1(s, 1, 1, 0); /* now 2 */
    double tv = tap_now() - t0;
    dt = reap_within(late, 3.0, &st);
    ok(still && rv == 0 && dt >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && dt < 0.2,
       "a P arriving while the holder is stopped returns after a V: V %.1f ms, the P %.1f ms later", tv * 1e3,
       dt * 1e3);

    /* The sleeper from before: a V wakes it to serve itself. */
    t0 = tap_now();
    rv = op1(s, 2, 1, 0);
    tv = tap_now() - t0;
    dt = reap_within(early, 3.0, &st);
    ok(rv == 0 && dt >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && dt < 0.2,
       "a sleeper from before the stop returns after a V: V %.1f ms, the sleeper %.1f ms later", tv * 1e3, dt * 1e3);

    /* The frozen semaphore: the P that arrived while the holder was
     * stopped moved the set away from it, its sleeper with it
     * (docs/bounded-time.md, "Sleepers follow the move"): IPC_NOWAIT is
     * performed, as on the kernel (before: EAGAIN, the set with a sleeper
     * was not moved). */
    t0 = tap_now();
    int r = op1(s, 0, -1, IPC_NOWAIT);
    int e = errno;
    dt = tap_now() - t0;
    ok(r == 0 && dt < 0.25, "IPC_NOWAIT on the frozen semaphore, the set moved: performed in %.1f ms (%s)",
       dt * 1e3, r == 0 ? "ok" : strerror(e));
    if (r == 0) op1(s, 0, 1, 0);

    kill(h, SIGKILL);
    kill(h, SIGCONT);
    waitpid(h, NULL, 0);
    /* The holder is dead: the next call takes the lock over, repairs, and
     * thaws the frozen word. */
    ok(op1(s, 0, -1, 0) == 0 && op1(s, 0, 1, 0) == 0, "after the holder died: semaphore 0 works again");
    /* (In the set's file now: the copy.) */
    uint32_t w = word_low(s, 0);
    ok((w & FROZEN_BIT) == 0, "and its word is thawed (low word 0x%x)", w);
    munmap(m, 4096);
    ok(semctl(s, 0, IPC_RMID) == 0, "removed");
}

/* ---- 4. the first lock-free operation on a set --------------------------
 * Until someone operates on a set without the lock, its SEM_UNDO
 * operations do not freeze the word they change; the first lock-free
 * caller announces itself and waits for the lock to be free once. Here it
 * races SEM_UNDO loopers on fresh sets, round after round: a lost update
 * would show as a wrong value at the end. */
static void first_lockfree(void) {
    int rounds = 150, bad = 0, failed = 0;
    for (int r = 0; r < rounds; r++) {
        int s = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
        if (s < 0 || semctl(s, 0, SETVAL, 2) != 0) {
            failed++;
            break;
        }
        int go[2];
        if (pipe(go)) {
            failed++;
            break;
        }
        pid_t c[3];
        for (int k = 0; k < 3; k++) {
            c[k] = fork();
            if (c[k] == 0) {
                alarm(20);
                char ch;
                close(go[1]);
                if (read(go[0], &ch, 1) != 0) _exit(9);
                int flg = k == 2 ? 0 : SEM_UNDO;
                for (int i = 0; i < 300; i++)
                    if (op1(s, 0, -1, flg) || op1(s, 0, 1, flg)) _exit(1);
                _exit(0);
            }
        }
        close(go[0]);
        close(go[1]); /* all three start at once */
        for (int k = 0; k < 3; k++) {
            int st;
            waitpid(c[k], &st, 0);
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) failed++;
        }
        if (semctl(s, 0, GETVAL) != 2) bad++;
        semctl(s, 0, IPC_RMID);
    }
    ok(failed == 0, "%d rounds: two SEM_UNDO loopers and a first lock-free one on a fresh set", rounds);
    ok(bad == 0, "... the value came out exact every time (%d rounds off)", bad);
}

/* ---- 5. killed inside the lock-free SEM_UNDO path ---------------------- */

#define CLAIM_BIT (1u << 29)

/* Under ripc, semaphores 0 and 1 of `s` neither frozen nor claimed; then
 * the set is removed. */
static void no_word_left(int s) {
    if (is_user()) {
        uint32_t w0 = word_low(s, 0), w1 = word_low(s, 1);
        ok(w0 != 0xffffffffu && ((w0 | w1) & (FROZEN_BIT | CLAIM_BIT)) == 0,
           "no word left frozen or claimed (low words 0x%x 0x%x)", w0, w1);
    } else {
        ok(1, "# SKIP the frozen bit is ripc's");
    }
    ok(semctl(s, 0, IPC_RMID) == 0, "removed");
}

static void killed_claimants(void) {
    int s = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    unsigned short init[2] = {3, 3};
    ok(s >= 0 && semctl(s, 0, SETALL, init) == 0, "a set of 2: 3, 3");
    pid_t plain = fork();
    double until = tap_now() + 60;
    if (plain == 0) {
        alarm(90);
        while (tap_now() < until)
            if (op1(s, 1, -1, 0) || op1(s, 1, 1, 0)) _exit(1);
        _exit(0);
    }
    /* Two loopers at a time, each replaced when killed: P(0) V(1) P(1)
     * V(0), all SEM_UNDO (the first under the lock, the rest claiming). */
    pid_t u[2] = {0, 0};
    int kills = 0, target = 240;
    double t0 = tap_now();
    while (kills < target && tap_now() - t0 < 45) {
        for (int k = 0; k < 2; k++) {
            if (u[k]) continue;
            u[k] = fork();
            if (u[k] == 0) {
                alarm(60);
                for (;;)
                    if (op1(s, 0, -1, SEM_UNDO) || op1(s, 1, 1, SEM_UNDO) || op1(s, 1, -1, SEM_UNDO) ||
                        op1(s, 0, 1, SEM_UNDO))
                        _exit(1);
            }
        }
        sleep_us(300 + (long)(tap_xorshift(&rng) % 2500));
        int k = (int)(tap_xorshift(&rng) % 2);
        kill(u[k], SIGKILL);
        int st;
        waitpid(u[k], &st, 0);
        if (!WIFSIGNALED(st)) diag("a looper ended by itself: status 0x%x", st);
        u[k] = 0;
        kills++;
    }
    for (int k = 0; k < 2; k++)
        if (u[k]) kill(u[k], SIGKILL), waitpid(u[k], NULL, 0), kills++;
    kill(plain, SIGTERM);
    int st;
    waitpid(plain, &st, 0);
    /* SIGTERM may land between its P and V: then it dies holding one of
     * semaphore 1 without SEM_UNDO (the kernel keeps it too). */
    int plain_ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM;
    ok(kills >= 200 && plain_ok, "%d SEM_UNDO loopers SIGKILLed beside a lock-free plain P/V loop", kills);
    unsigned short v[2] = {0, 0};
    int r = semctl(s, 0, GETALL, v);
    ok(r == 0 && v[0] == 3 && (v[1] == 3 || v[1] == 2),
       "every dead looper's operations undone once: %u %u (3, and 3 or 2 as the plain loop left it)", v[0], v[1]);
    no_word_left(s);
}

/* ---- 6. SEM_UNDO beside SETVAL, SETALL and IPC_RMID -------------------- */

/* Semaphores: 0 (10) SEM_UNDO P/V; 1 and 2 (50 each) plain transfers; 3
 * (3) plain P/V; the two-semaphore SEM_UNDO operation takes 0 and 3.
 * Kinds: 0, 1 SEM_UNDO P/V; 2 transfers; 3 two-semaphore SEM_UNDO; 4
 * plain P/V on 3 (left out of the SETALL phase: a plain P straddling a
 * SETALL would be counted twice, as under the kernel). `rmid`: EIDRM or
 * EINVAL ends the worker well. */
static void setter_worker(int s, int kind, double until, int rmid) {
    alarm(30);
    long n = 0;
    while (tap_now() < until) {
        int e = 0;
        switch (kind) {
        case 0:
        case 1:
            e = op1(s, 0, -1, SEM_UNDO) || op1(s, 0, 1, SEM_UNDO);
            break;
        case 2: {
            struct sembuf t[2] = {{1, -1, 0}, {2, 1, 0}};
            struct sembuf b[2] = {{2, -1, 0}, {1, 1, 0}};
            e = semop(s, t, 2) || semop(s, b, 2);
            break;
        }
        case 3: {
            struct sembuf t[2] = {{0, -1, SEM_UNDO}, {3, -1, SEM_UNDO}};
            struct sembuf b[2] = {{0, 1, SEM_UNDO}, {3, 1, SEM_UNDO}};
            e = semop(s, t, 2) || semop(s, b, 2);
            break;
        }
        default:
            e = op1(s, 3, -1, 0) || op1(s, 3, 1, 0);
            break;
        }
        if (e) {
            if (rmid && (errno == EIDRM || errno == EINVAL)) _exit(0);
            _exit(10 + kind);
        }
        n++;
    }
    _exit(n > 0 || rmid ? 0 : 50);
}

static int run_setters(int s, int nkinds, const int *kinds, double secs, int phase, int *bad, int *reads) {
    double until = tap_now() + secs;
    pid_t c[5];
    for (int k = 0; k < nkinds; k++) {
        c[k] = fork();
        if (c[k] == 0) setter_worker(s, kinds[k], until + (phase == 2 ? 5 : 0), phase == 2);
    }
    int errs = 0;
    if (phase == 2) {
        sleep_us((long)(secs * 1e6));
        if (semctl(s, 0, IPC_RMID) != 0) errs++;
    } else {
        unsigned short all[4] = {10, 50, 50, 3};
        while (tap_now() < until) {
            int r = phase == 0 ? semctl(s, 0, SETVAL, 10) : semctl(s, 0, SETALL, all);
            if (r != 0) {
                diag("%s: %s", phase == 0 ? "SETVAL" : "SETALL", strerror(errno));
                errs++;
            }
            for (int i = 0; i < 3; i++) {
                unsigned short v[4];
                if (semctl(s, 0, GETALL, v) == 0) {
                    (*reads)++;
                    /* Each of the three SEM_UNDO workers holds at most one
                     * of 0 (and the pair worker one of 3), the plain one
                     * at most one of 3; a V after a SETVAL can raise 0 by
                     * one per worker. */
                    if (v[1] + v[2] != 100 || v[0] > 13 || v[3] > 5) {
                        (*bad)++;
                        diag("GETALL %u %u %u %u", v[0], v[1], v[2], v[3]);
                    }
                } else {
                    errs++;
                }
                sleep_us(700);
            }
        }
    }
    for (int k = 0; k < nkinds; k++) {
        int st;
        waitpid(c[k], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            errs++;
            diag("phase %d, worker kind %d: status 0x%x", phase, kinds[k], st);
        }
    }
    return errs;
}

static void setters(void) {
    int s = semget(IPC_PRIVATE, 4, IPC_CREAT | 0600);
    unsigned short init[4] = {10, 50, 50, 3};
    ok(s >= 0 && semctl(s, 0, SETALL, init) == 0, "a set of 4: 10, 50, 50, 3");
    int bad = 0, reads = 0;
    int all5[5] = {0, 1, 2, 3, 4};
    int errs = run_setters(s, 5, all5, 1.0, 0, &bad, &reads);
    unsigned short v[4] = {0, 0, 0, 0};
    if (semctl(s, 0, GETALL, v) != 0) errs++;
    ok(errs == 0 && v[0] == 10 && v[1] + v[2] == 100 && v[3] == 3,
       "SETVAL 10 beside lock-free and locked SEM_UNDO, transfers and plain P/V: then %u %u %u %u (10, 100, 3)",
       v[0], v[1], v[2], v[3]);
    int four[4] = {0, 1, 2, 3};
    errs = run_setters(s, 4, four, 1.0, 1, &bad, &reads);
    if (semctl(s, 0, GETALL, v) != 0) errs++;
    ok(errs == 0 && v[0] == 10 && v[1] + v[2] == 100 && v[3] == 3,
       "SETALL beside them: then %u %u %u %u (10, 100, 3)", v[0], v[1], v[2], v[3]);
    ok(bad == 0 && reads > 0, "GETALL always consistent (%d of %d readings off)", bad, reads);
    double t0 = tap_now();
    errs = run_setters(s, 5, all5, 0.3, 2, &bad, &reads);
    ok(errs == 0 && tap_now() - t0 < 5, "IPC_RMID beside them: every worker ends (EIDRM/EINVAL) in %.2f s",
       tap_now() - t0);
}

/* ---- 7. threads ---------------------------------------------------------- */

static int thread_set;

static void *undo_thread(void *arg) {
    int num = (int)(intptr_t)arg % 2;
    for (;;)
        if (op1(thread_set, num, -1, SEM_UNDO) || op1(thread_set, num, 1, SEM_UNDO)) _exit(1);
    return NULL;
}

static void threads(void) {
    int s = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    unsigned short init[2] = {6, 6};
    ok(s >= 0 && semctl(s, 0, SETALL, init) == 0, "a set of 2: 6, 6");
    thread_set = s;
    int kills = 0, bad = 0;
    for (int r = 0; r < 40; r++) {
        pid_t c = fork();
        if (c == 0) {
            alarm(30);
            pthread_t t[12];
            for (int k = 0; k < 12; k++)
                if (pthread_create(&t[k], NULL, undo_thread, (void *)(intptr_t)k)) _exit(2);
            for (;;) pause();
        }
        sleep_us(2000 + (long)(tap_xorshift(&rng) % 8000));
        kill(c, SIGKILL);
        int st;
        waitpid(c, &st, 0);
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) kills++;
        else diag("round %d: status 0x%x", r, st);
        unsigned short v[2] = {0, 0};
        if (semctl(s, 0, GETALL, v) != 0 || v[0] != 6 || v[1] != 6) {
            bad++;
            diag("round %d: %u %u", r, v[0], v[1]);
        }
    }
    ok(kills == 40, "40 processes of 12 SEM_UNDO threads SIGKILLed (%d)", kills);
    ok(bad == 0, "the values came back to 6, 6 every time (%d rounds off)", bad);
    no_word_left(s);
}

int main(void) {
    tap_subtest("no lost update", no_lost_update);
    tap_subtest("killed holders", killed_holders);
    tap_subtest("a stopped lock holder", stopped_holder);
    tap_subtest("the first lock-free operation on a set", first_lockfree);
    tap_subtest("killed inside the lock-free SEM_UNDO path", killed_claimants);
    tap_subtest("SEM_UNDO beside SETVAL, SETALL and IPC_RMID", setters);
    tap_subtest("threads", threads);
    return done_testing();
}
