/* t_msg_unmarked.c — waits that spin without marking the wait word
 * (issue 17 item 2; src/msg/wait.rs `spin_unmarked`).
 *
 * An untyped receiver that finds the queue empty, and a sender that finds
 * it full, first spin on the queue itself (the list's end; the receivers'
 * counters) without marking `sent`/`taken`, so that the other side writes
 * nothing for them; only a wait that goes on to sleep marks the word, as
 * before. What could go wrong: a wake-up lost between the spin and the
 * sleep, a spin that does not end at a removal, a typed receiver starved
 * or served out of order beside an untyped one. Checked here, sender and
 * receiver on different CPUs where there are two (the only placement where
 * the unmarked spin is used), under both backends:
 * 1. a stream of 30000 messages of 0, 64, 1000 and 8192 bytes, the sender
 *    and the receiver each pausing 0-300 us now and then (so that waits
 *    end in the spin, after it in a sleep, and on both sides): every
 *    message arrives once, in order, within the alarm;
 * 2. IPC_RMID 0-150 us after a receiver started waiting on an empty queue,
 *    or a sender on a full one (the 50 us spin, or the sleep after it),
 *    and, in every other pair of trials, once the waiter is seen asleep
 *    in its call: the call returns EIDRM (EINVAL when the removal came
 *    before its first look, as the kernel's) within 1 s of the removal's
 *    start (the time the waiter read when its call returned, not when
 *    this process reaped it: on a loaded machine its exit and this
 *    process's wake-up took up to 0.75 s more, and the test failed on
 *    them), 120 times; every waiter seen asleep answers EIDRM;
 * 3. an untyped and a typed (type 2) receiver beside a sender of types 1
 *    and 2: every message taken once, each receiver's in sending order,
 *    the typed one only type 2;
 * 4. a receiver left waiting on an empty queue, and a sender on a full
 *    one, right after streaming with a peer on the other CPU, use under
 *    30 ms of CPU in 300 ms (the unmarked spin ends in a sleep). */
#include "ripc_sysv.h"
#include "tap.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

struct big {
    long mtype;
    char text[8192];
};

static int ncpu;

static void pin(int cpu) {
    if (ncpu < 2) return;
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu % ncpu, &s);
    sched_setaffinity(0, sizeof s, &s);
}

static void pause_us(uint64_t *rng, int max_us) {
    double until = tap_now() + (double)(tap_xorshift(rng) % (uint64_t)(max_us + 1)) * 1e-6;
    while (tap_now() < until) {
    }
}

static const size_t SIZES[] = {64, 8192, 1000, 0, 64, 64, 8192};
#define NSIZES (sizeof SIZES / sizeof SIZES[0])
#define STREAM 30000

static void stream(void) {
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ok(q >= 0, "a queue");
    if (q < 0) return;
    pid_t r = fork();
    if (r == 0) {
        tap_peer_start(60);
        pin(1);
        uint64_t rng = 77;
        static struct big m;
        for (long i = 0; i < STREAM; i++) {
            if (i % 89 == 0) pause_us(&rng, 300);
            size_t want = SIZES[i % NSIZES];
            ssize_t n = msgrcv(q, &m, sizeof m.text, 0, 0);
            if (n != (ssize_t)want) _exit(10);
            if (m.mtype != i + 1) _exit(11);
            if (want >= sizeof(long) && memcmp(m.text, &i, sizeof i) != 0) _exit(12);
        }
        _exit(0);
    }
    pin(0);
    uint64_t rng = 99;
    static struct big m;
    long sent = 0;
    double t0 = tap_now();
    for (; sent < STREAM; sent++) {
        if (sent % 97 == 0) pause_us(&rng, 300);
        m.mtype = sent + 1;
        memcpy(m.text, &sent, sizeof sent);
        if (msgsnd(q, &m, SIZES[sent % NSIZES], 0) != 0) break;
    }
    int st = -1;
    waitpid(r, &st, 0);
    ok_eq(sent, STREAM, "every message sent");
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "every message received once and in order (receiver status %#x: 10 size, 11 order, 12 text)", st);
    diag("stream of %d in %.2f s", STREAM, tap_now() - t0);
    ok(msgctl(q, IPC_RMID, NULL) == 0, "removed");
}

#define TRIALS 120

/* Waits (at most 1 s) until process `pid` is asleep ('S'). */
static int seen_asleep(pid_t pid) {
    for (int i = 0; i < 10000; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        if (tap_stat_state(path) == 'S') return 1;
        usleep(100);
    }
    return 0;
}

static void removal(void) {
    /* ready: the child is about to call; returned: when its call returned
     * (tap_now: CLOCK_MONOTONIC, the same clock in both processes). */
    struct page {
        _Atomic int ready;
        _Atomic double returned;
    } *pg = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ok(pg != MAP_FAILED, "a shared page");
    if (pg == MAP_FAILED) return;
    _Atomic int *ready = &pg->ready;
    uint64_t rng = 5;
    int good = 0, before = 0, slow = 0, asleep = 0, asleep_good = 0;
    double worst = 0;
    pin(0);
    for (int t = 0; t < TRIALS; t++) {
        int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (q < 0) break;
        int sender = t % 2;
        struct big m = {1, {0}};
        if (sender) /* full: the child's send waits for room */
            while (msgsnd(q, &m, 1024, IPC_NOWAIT) == 0) {
            }
        atomic_store(ready, 0);
        atomic_store(&pg->returned, 0.0);
        pid_t c = fork();
        if (c == 0) {
            tap_peer_start(10);
            pin(1);
            atomic_store(ready, 1);
            int rc = sender ? msgsnd(q, &m, 1024, 0) : (int)msgrcv(q, &m, sizeof m.text, 0, 0);
            int e = errno;
            atomic_store(&pg->returned, tap_now());
            errno = e;
            /* EIDRM: removed while waiting; EINVAL: before the call
             * looked (the kernel answers so too). */
            _exit(rc == -1 && errno == EIDRM ? 0 : rc == -1 && errno == EINVAL ? 2 : 1);
        }
        while (!atomic_load(ready)) {
        }
        /* Two trials of four remove a waiter seen asleep (the sleep after
         * the spin); the others remove it 0-150 us after it started, in its
         * spin, asleep, or before its first look, as the scheduler has it. */
        int wait_sleep = t % 4 >= 2, slept = 0;
        if (wait_sleep) slept = seen_asleep(c);
        else pause_us(&rng, 150);
        double t0 = tap_now();
        msgctl(q, IPC_RMID, NULL);
        int st = -1;
        waitpid(c, &st, 0);
        /* From the removal's start to the call's return in the waiter (a
         * waiter that never returned, killed by its alarm: to its reaping). */
        double back = atomic_load(&pg->returned);
        double dt = (back > 0 ? back : tap_now()) - t0;
        if (dt > worst) worst = dt;
        if (dt > 1.0) slow++;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) good++;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 2) before++;
        asleep += slept;
        if (slept && WIFEXITED(st) && WEXITSTATUS(st) == 0) asleep_good++;
    }
    ok_eq(good + before, TRIALS, "every call answered EIDRM at removal, or EINVAL when removed before it looked (%d, %d of %d)",
          good, before, TRIALS);
    ok_eq(asleep, TRIALS / 2, "every waiter given 1 s was seen asleep in its call (%d of %d)", asleep, TRIALS / 2);
    ok_eq(asleep_good, asleep, "every waiter seen asleep answered EIDRM (%d of %d)", asleep_good, asleep);
    ok(good >= TRIALS / 2, "most were waiting when removed (%d of %d)", good, TRIALS);
    ok_eq(slow, 0, "each within 1 s (worst %.1f ms)", worst * 1e3);
    munmap((void *)pg, 4096);
}

#define MIXED 20000

static void mixed(void) {
    /* got[i]: which receiver took message i (1 untyped, 2 typed), 0 none;
     * dup: a message taken twice; order: a receiver's out of order. */
    struct shared {
        _Atomic int got[MIXED];
        _Atomic int dup, order, wrong_type, taken;
    } *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ok(sh != MAP_FAILED, "a shared area");
    if (sh == MAP_FAILED) return;
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ok(q >= 0, "a queue");
    if (q < 0) return;
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            tap_peer_start(60);
            pin(1);
            long last = -1;
            struct big m;
            for (;;) {
                ssize_t n = msgrcv(q, &m, sizeof m.text, k == 0 ? 0 : 2, 0);
                if (n < 0) _exit(errno == EIDRM || errno == EINVAL ? 0 : 1);
                long i;
                memcpy(&i, m.text, sizeof i);
                if (i < 0 || i >= MIXED) _exit(2);
                if (k == 1 && m.mtype != 2) atomic_fetch_add(&sh->wrong_type, 1);
                if (i <= last) atomic_fetch_add(&sh->order, 1);
                last = i;
                if (atomic_exchange(&sh->got[i], k + 1) != 0) atomic_fetch_add(&sh->dup, 1);
                atomic_fetch_add(&sh->taken, 1);
            }
        }
    }
    pin(0);
    uint64_t rng = 3;
    struct big m;
    long i = 0;
    for (; i < MIXED; i++) {
        m.mtype = 1 + (long)(tap_xorshift(&rng) % 2);
        memcpy(m.text, &i, sizeof i);
        if (i % 113 == 0) pause_us(&rng, 200);
        if (msgsnd(q, &m, 64 + (i % 3) * 500, 0) != 0) break;
    }
    ok_eq(i, MIXED, "every message sent");
    double until = tap_now() + 20;
    while (atomic_load(&sh->taken) < MIXED && tap_now() < until) usleep(1000);
    ok_eq(atomic_load(&sh->taken), MIXED, "every message taken");
    msgctl(q, IPC_RMID, NULL);
    int fine = 0;
    for (int k = 0; k < 2; k++) {
        int st = -1;
        waitpid(kids[k], &st, 0);
        fine += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    ok_eq(fine, 2, "both receivers ended at removal");
    int none = 0, typed = 0;
    for (int k = 0; k < MIXED; k++) {
        none += atomic_load(&sh->got[k]) == 0;
        typed += atomic_load(&sh->got[k]) == 2;
    }
    ok_eq(none, 0, "none missing");
    ok_eq(atomic_load(&sh->dup), 0, "none taken twice");
    ok_eq(atomic_load(&sh->order), 0, "each receiver's in sending order");
    ok_eq(atomic_load(&sh->wrong_type), 0, "the typed receiver only type 2 (it took %d)", typed);
    munmap(sh, sizeof *sh);
}

/* The CPU time process `p` used so far (user + system), in clock ticks;
 * -1 when unknown. */
static long cpu_ticks(pid_t p) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)p);
    long t = -1, ut, st;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    if (fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) == 2) t = ut + st;
    fclose(f);
    return t;
}

/* 4. Idle waiters sleep: a receiver on an empty queue and a sender on a
 * full one, each right after a stream with its peer on the other CPU (so
 * that the peer hint says "elsewhere" and the wait spins unmarked first),
 * then left waiting 300 ms: each uses under 30 ms of CPU. */
static void idle(void) {
    for (int side = 0; side < 2; side++) {
        int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        ok(q >= 0, "a queue");
        if (q < 0) return;
        pid_t c = fork();
        if (c == 0) {
            tap_peer_start(10);
            pin(1);
            struct big m = {1, {0}};
            if (side == 0) {
                for (int i = 0; i < 2000; i++)
                    if (msgrcv(q, &m, sizeof m.text, 0, 0) < 0) _exit(1);
                msgrcv(q, &m, sizeof m.text, 0, 0); /* waits until removal */
            } else {
                for (int i = 0; i < 2000; i++)
                    if (msgsnd(q, &m, 64, 0) != 0) _exit(1);
                for (;;) /* fills the queue, then waits until removal */
                    if (msgsnd(q, &m, 64, 0) != 0) break;
            }
            _exit(0);
        }
        pin(0);
        struct big m = {1, {0}};
        for (int i = 0; i < 2000; i++) {
            if (side == 0 ? msgsnd(q, &m, 64, 0) != 0 : msgrcv(q, &m, sizeof m.text, 0, 0) < 0) break;
        }
        usleep(50 * 1000); /* the child is in its wait now */
        long t0 = cpu_ticks(c);
        usleep(300 * 1000);
        long t1 = cpu_ticks(c);
        double cpu_ms = (double)(t1 - t0) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
        ok(t0 >= 0 && t1 >= 0 && cpu_ms < 30, "an idle %s used %.0f ms of CPU in 300 ms (limit 30)",
           side == 0 ? "receiver" : "sender", cpu_ms);
        msgctl(q, IPC_RMID, NULL);
        int st = -1;
        waitpid(c, &st, 0);
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "it streamed, waited and ended at removal (status %#x)", st);
    }
}

int main(void) {
    ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    diag("%d CPUs: sender and receiver pinned apart: %s", ncpu, ncpu >= 2 ? "yes" : "no");
    tap_subtest("a stream through spins and sleeps on both sides", stream);
    tap_subtest("removal ends a spinning or sleeping wait", removal);
    tap_subtest("a typed receiver beside an untyped one", mixed);
    tap_subtest("idle waiters sleep", idle);
    return done_testing();
}
