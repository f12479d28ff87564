/* t_sem_multi.c — multi-operation semops at random, beside a set-lock
 * holder stopped and continued at random moments, processes SIGKILLed at
 * random moments, a reader looking all the while: the conservation the
 * operations imply holds at every reading and at the end, under both
 * backends (the kernel's is the oracle).
 *
 * The set (NSEMS semaphores):
 *  - U = 0..NU-1, each UINIT: only SEM_UNDO operations (±1, ±2, the same
 *    semaphore up to twice in a call), each process keeping its own
 *    adjustments within ±ADJ_MAX, so that no value nears 0 or SEMVMX and
 *    no undo is ever clamped: once every process is gone, every U value
 *    is UINIT again, exactly (an operation or an adjustment applied
 *    twice, or lost, leaves one off);
 *  - T = NU, NU+1, TSUM between them: transfers without SEM_UNDO (x off
 *    one, x onto the other, in one call, at times split into two
 *    operations on the same semaphore), IPC_NOWAIT on each T operation
 *    (the only ones that can block: nobody ever sleeps in the queue);
 *  - Z = NU+2, 0 between calls: a call may wrap itself in {Z +1} ...
 *    {Z -1}, or wait for it to be zero ({Z 0}, IPC_NOWAIT: it must go);
 *    the call {Z -1 IPC_NOWAIT},{Z +1} must always answer EAGAIN;
 *  - H = the holder's NH semaphores: a process looping {+1 on each},
 *    {-1 on each}, with SEM_UNDO (it holds the set's lock for most of its
 *    time), SIGSTOPped and SIGCONTed at random moments, once SIGKILLed.
 * Calls mix the parts at random (and one-operation calls), some with
 * IPC_NOWAIT everywhere. Workers are SIGKILLed at random moments and
 * replaced. A reader loops GETALL and GETVAL: Z is always 0 and T always
 * sums to TSUM — a reading never shows a call half done. The whole run
 * is bounded (RUN_S seconds, alarms on every process).
 *
 * Part 2: a call the set refuses (EFBIG: a semaphore number past the
 * set, one operation and several) answers at once beside the stopped
 * holder, as on the kernel.
 *
 * Part 3: claims in the way. Beside the holder stopped (phases of
 * PHASE_MS), workers make IPC_NOWAIT calls on the U semaphores only (one
 * operation or up to three, mostly SEM_UNDO): none can block, so the
 * kernel performs every one. ripc's lock-free calls claim the words for a
 * moment; a call that met another's claim used to go to the locked path
 * and answer EAGAIN (the holder seen stopped). Counted within the
 * stopped phases, no kills, no reader (docs/bounded-time.md, "Sets").
 */
#include "ripc_sysv.h"
#include "tap.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define NU 4
#define UINIT 1000
#define ADJ_MAX 4
#define T0 NU
#define T1 (NU + 1)
#define TSUM 40
#define Z (NU + 2)
#define NH 16
#define H0 (NU + 3)
#define NSEMS (H0 + NH)
#define NW 4      /* workers at once */
#define RUN_S 6.0 /* seconds of the random run */

struct shared {
    volatile int stop;
    volatile int holder_rounds;
    volatile int calls[NW + 1];    /* calls made, by worker slot */
    volatile int done[NW + 1];     /* calls that succeeded */
    volatile int odd[NW + 1];      /* calls answered what they may not */
    volatile int odd_errno[NW + 1];
    volatile int impossible[NW + 1]; /* {Z -1},{Z +1} went through */
    volatile int zero_again[NW + 1]; /* {Z 0} IPC_NOWAIT answered EAGAIN */
    volatile int spurious[NW + 1];   /* EAGAIN of a call the kernel performs */
    volatile int readings;
    volatile int torn;            /* readings that broke an invariant */
    volatile int torn_val;        /* GETVAL of Z not 0 */
    volatile int torn_val_first;  /* the first such answer */
    volatile int torn_val_errno;  /* its errno when it was -1 */
    volatile unsigned short bad[NSEMS];
    volatile int phase;                /* part 3: odd while the holder is stopped */
    volatile int p3_calls[NW + 1];     /* part 3: calls within a stopped phase */
    volatile int p3_eagain[NW + 1];    /* ... answered EAGAIN */
    volatile int p3_out_eagain[NW + 1]; /* EAGAIN of calls outside the phases */
    volatile int p3_odd[NW + 1];
};

static struct shared *sh;
static int sid = -1;

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void holder(void) {
    tap_peer_start(60);
    struct sembuf up[NH], down[NH];
    for (int i = 0; i < NH; i++) {
        up[i] = (struct sembuf){(unsigned short)(H0 + i), 1, SEM_UNDO};
        down[i] = (struct sembuf){(unsigned short)(H0 + i), -1, SEM_UNDO};
    }
    while (!sh->stop) {
        if (semop(sid, up, NH) != 0 || semop(sid, down, NH) != 0) {
            if (errno == EINTR) continue;
            _exit(1);
        }
        sh->holder_rounds++;
    }
    _exit(0);
}

/* One worker, in slot w: random calls until killed (or the run ends). */
static void worker(int w) {
    tap_peer_start(60);
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)getpid() << 17) ^ (uint64_t)(tap_now() * 1e9);
    if (!rng) rng = 1;
    int adj[NU] = {0};
    while (!sh->stop) {
        struct sembuf ops[16];
        int n = 0;
        uint64_t r = tap_xorshift(&rng);
        int all_nowait = r % 5 == 0;
        int kind = (int)((r >> 4) % 16);
        int want_eagain = 0, zero_check = 0;
        int next[NU];
        memcpy(next, adj, sizeof next);
        if (kind == 0) {
            /* {Z -1},{Z +1}: Z is 0 between calls, so it must block. */
            ops[n++] = (struct sembuf){Z, -1, IPC_NOWAIT};
            ops[n++] = (struct sembuf){Z, 1, 0};
            want_eagain = 1;
        } else if (kind == 1) {
            /* One operation, with SEM_UNDO, on a U semaphore. */
            int s = (int)((r >> 8) % NU);
            short x = (r >> 12) & 1 ? 1 : -1;
            if (next[s] - x < -ADJ_MAX || next[s] - x > ADJ_MAX) x = (short)-x;
            ops[n++] = (struct sembuf){(unsigned short)s, x, SEM_UNDO};
            next[s] -= x;
        } else {
            int wrap = (r >> 8) % 3 == 0;
            zero_check = !wrap && (r >> 10) % 3 == 0;
            if (wrap) ops[n++] = (struct sembuf){Z, 1, 0};
            int nu = (int)((r >> 12) % 4);
            for (int k = 0; k < nu; k++) {
                uint64_t q = tap_xorshift(&rng);
                int s = (int)(q % NU);
                short x = (short)((q >> 8) % 2 + 1);
                if ((q >> 9) & 1) x = (short)-x;
                if (next[s] - x < -ADJ_MAX || next[s] - x > ADJ_MAX) x = (short)-x;
                if (next[s] - x < -ADJ_MAX || next[s] - x > ADJ_MAX) continue;
                ops[n++] = (struct sembuf){(unsigned short)s, x, SEM_UNDO};
                next[s] -= x;
                if ((q >> 10) % 4 == 0 && next[s] + x >= -ADJ_MAX && next[s] + x <= ADJ_MAX) {
                    /* The same semaphore again, the other way. */
                    ops[n++] = (struct sembuf){(unsigned short)s, (short)-x, SEM_UNDO};
                    next[s] += x;
                }
            }
            if ((r >> 14) % 2 == 0) {
                /* A transfer of x from one T semaphore to the other. */
                short x = (short)((r >> 15) % 3 + 1);
                unsigned short from = (r >> 17) & 1 ? T0 : T1;
                unsigned short to = from == T0 ? T1 : T0;
                if (x > 1 && (r >> 18) & 1) {
                    ops[n++] = (struct sembuf){from, -1, IPC_NOWAIT};
                    ops[n++] = (struct sembuf){from, (short)-(x - 1), IPC_NOWAIT};
                } else {
                    ops[n++] = (struct sembuf){from, (short)-x, IPC_NOWAIT};
                }
                if ((r >> 19) & 1) {
                    ops[n++] = (struct sembuf){to, x, 0};
                } else {
                    /* Onto it first, then off the source: in order. */
                    struct sembuf t = ops[n - 1];
                    ops[n - 1] = (struct sembuf){to, x, 0};
                    ops[n++] = t;
                }
            }
            if (zero_check) ops[n++] = (struct sembuf){Z, 0, IPC_NOWAIT};
            if (wrap) ops[n++] = (struct sembuf){Z, -1, 0};
            if (n == 0) continue;
        }
        if (all_nowait)
            for (int k = 0; k < n; k++) ops[k].sem_flg |= IPC_NOWAIT;
        sh->calls[w]++;
        int rc = semop(sid, ops, (size_t)n);
        int e = errno;
        if (rc == 0) {
            sh->done[w]++;
            memcpy(adj, next, sizeof adj);
            if (want_eagain) sh->impossible[w]++;
        } else if (e == EAGAIN) {
            /* A T operation that must wait, or (ripc beside a stopped
             * holder) a call that could not be made without the lock
             * within its IPC_NOWAIT bound. */
            int t_part = 0;
            for (int k = 0; k < n; k++) t_part |= ops[k].sem_num == T0 || ops[k].sem_num == T1;
            if (zero_check && !t_part) sh->zero_again[w]++;
            /* Without a T operation nothing in the call can block (U
             * values stay near UINIT, Z is 0 between calls), and the
             * holder never freezes these words: the kernel performs
             * every such call. ripc answered EAGAIN when a word was
             * claimed for a moment by another lock-free call beside the
             * stopped holder (docs/bounded-time.md, "Sets"). */
            if (!t_part && !want_eagain) sh->spurious[w]++;
        } else {
            sh->odd[w]++;
            sh->odd_errno[w] = e;
        }
    }
    _exit(0);
}

static void reader(void) {
    tap_peer_start(60);
    while (!sh->stop) {
        unsigned short v[NSEMS];
        if (semctl(sid, 0, GETALL, v) != 0) {
            if (errno == EINTR) continue;
            _exit(1);
        }
        int bad = v[Z] != 0 || v[T0] + v[T1] != TSUM;
        if (bad && !sh->torn) memcpy((void *)sh->bad, v, sizeof v);
        sh->torn += bad;
        int z = semctl(sid, Z, GETVAL);
        if (z != 0 && !sh->torn_val) {
            sh->torn_val_first = z;
            sh->torn_val_errno = z < 0 ? errno : 0;
        }
        sh->torn_val += z != 0;
        sh->readings++;
    }
    _exit(0);
}

static pid_t spawn_w(int w) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        if (w < 0) holder();
        else if (w == NW) reader();
        else worker(w);
    }
    return c;
}

static int reap(pid_t c) {
    int st = 0;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR) {
    }
    return st;
}

static void run(void) {
    uint64_t rng = 0x243f6a8885a308d3ull ^ (uint64_t)getpid();
    unsigned short init[NSEMS];
    for (int i = 0; i < NSEMS; i++) init[i] = 0;
    for (int i = 0; i < NU; i++) init[i] = UINIT;
    init[T0] = TSUM / 2;
    init[T1] = TSUM - TSUM / 2;
    ok(semctl(sid, 0, SETALL, init) == 0, "SETALL");
    memset((void *)sh, 0, sizeof *sh);
    pid_t h = spawn_w(-1), rd = spawn_w(NW);
    pid_t w[NW];
    for (int i = 0; i < NW; i++) w[i] = spawn_w(i);
    double t0 = tap_now();
    while (sh->holder_rounds < 3 && tap_now() - t0 < 10) sleep_us(500);
    int stops = 0, kills = 0, stopped = 0, holder_killed = 0;
    int holder_kill_at = 100 + (int)(tap_xorshift(&rng) % 200);
    int step = 0;
    while (tap_now() - t0 < RUN_S) {
        step++;
        uint64_t r = tap_xorshift(&rng);
        sleep_us((long)(r % 3000));
        if ((r >> 12) % 3 == 0) {
            if (stopped) {
                kill(h, SIGCONT);
                stopped = 0;
            } else {
                kill(h, SIGSTOP);
                stopped = 1;
                stops++;
                /* Stopped a while: the others go without the lock. */
                sleep_us(5000 + (long)((r >> 20) % 20000));
            }
        }
        if ((r >> 16) % 4 == 0) {
            int k = (int)((r >> 24) % NW);
            kill(w[k], SIGKILL);
            reap(w[k]);
            w[k] = spawn_w(k);
            kills++;
        }
        if (!holder_killed && step == holder_kill_at) {
            /* Once: the holder killed (stopped or not; its undo applied,
             * its lock repaired), and a new one started. */
            kill(h, SIGKILL);
            reap(h);
            h = spawn_w(-1);
            stopped = 0;
            holder_killed = 1;
        }
    }
    if (stopped) kill(h, SIGCONT);
    sh->stop = 1;
    /* Workers killed (a call in flight applied whole or not at all),
     * the holder and the reader end by themselves. */
    for (int i = 0; i < NW; i++) {
        kill(w[i], SIGKILL);
        reap(w[i]);
    }
    int hs = reap(h), rs = reap(rd);
    ok(WIFEXITED(hs) && WEXITSTATUS(hs) == 0, "the holder ended by itself (status %#x)", hs);
    ok(WIFEXITED(rs) && WEXITSTATUS(rs) == 0, "the reader ended by itself (status %#x)", rs);
    int calls = 0, done = 0, odd = 0, imp = 0, zero = 0, oe = 0, spur = 0;
    for (int i = 0; i <= NW; i++) {
        calls += sh->calls[i];
        done += sh->done[i];
        odd += sh->odd[i];
        imp += sh->impossible[i];
        zero += sh->zero_again[i];
        spur += sh->spurious[i];
        if (sh->odd[i]) oe = sh->odd_errno[i];
    }
    diag("%d calls (%d done), %d holder stops, %d kills, %d readings; "
         "{Z 0} IPC_NOWAIT answered EAGAIN %d times, calls the kernel performs %d times",
         calls, done, stops, kills, sh->readings, zero, spur);
    ok(done > 100, "calls went through (%d)", done);
    ok(odd == 0, "no call answered other than 0 or EAGAIN (%d did, last errno %d)", odd, oe);
    ok(imp == 0, "{Z -1},{Z +1} never went through (Z is 0 between calls): %d did", imp);
    ok(sh->torn == 0,
       "no GETALL showed a call half done (%d of %d did; first: Z %u, T %u+%u, U %u %u %u %u)",
       sh->torn, sh->readings, sh->bad[Z], sh->bad[T0], sh->bad[T1], sh->bad[0], sh->bad[1],
       sh->bad[2], sh->bad[3]);
    ok(sh->torn_val == 0, "no GETVAL of Z read other than 0 (%d did; the first answered %d, errno %d)",
       sh->torn_val, sh->torn_val_first, sh->torn_val_errno);
    unsigned short v[NSEMS];
    int got = semctl(sid, 0, GETALL, v) == 0;
    int exact = got && v[Z] == 0 && v[T0] + v[T1] == TSUM;
    for (int i = 0; i < NU; i++) exact &= v[i] == UINIT;
    for (int i = 0; i < NH; i++) exact &= v[H0 + i] == 0;
    ok(exact, "at the end: U all %d, T summing to %d, Z 0, the holder's 0 (U %u %u %u %u, T %u+%u, "
              "Z %u, H %u)",
       UINIT, TSUM, v[0], v[1], v[2], v[3], v[T0], v[T1], v[Z], v[H0]);
}

/* Part 2: a call the set refuses (EFBIG: a semaphore number past the
 * set, one operation or several) answers at once beside the stopped
 * holder, as on the kernel (ripc before: it left such a call to the
 * locked path, which waited for the holder, for ever when untimed). */
#define BAD_TRIALS 12
#define BAD_MAX 1.0 /* seconds */

static void bad_caller(void) {
    tap_peer_start(60);
    struct sembuf one = {NSEMS + 3, -1, 0};
    struct sembuf two[2] = {{0, -1, SEM_UNDO}, {NSEMS, 1, 0}};
    int r1 = semop(sid, &one, 1);
    int e1 = r1 == 0 ? 0 : errno;
    int r2 = semop(sid, two, 2);
    int e2 = r2 == 0 ? 0 : errno;
    _exit((e1 == EFBIG ? 1 : 0) | (e2 == EFBIG ? 2 : 0));
}

static void refused(void) {
    uint64_t rng = 0x51ed2701a9e3c4b5ull ^ (uint64_t)getpid();
    memset((void *)sh, 0, sizeof *sh);
    pid_t h = spawn_w(-1);
    double t0 = tap_now();
    while (sh->holder_rounds < 3 && tap_now() - t0 < 10) sleep_us(500);
    int hung = 0, wrong = 0;
    double worst = 0;
    for (int t = 0; t < BAD_TRIALS; t++) {
        sleep_us(500 + (long)(tap_xorshift(&rng) % 3000));
        kill(h, SIGSTOP);
        int st;
        waitpid(h, &st, WUNTRACED);
        double t1 = tap_now();
        fflush(stdout);
        pid_t c = fork();
        if (c == 0) bad_caller();
        int got = 0;
        while (tap_now() - t1 < BAD_MAX + 1) {
            if (waitpid(c, &st, WNOHANG) == c) {
                got = 1;
                break;
            }
            sleep_us(500);
        }
        double took = tap_now() - t1;
        if (!got) {
            hung++;
            kill(c, SIGKILL);
            reap(c);
        } else {
            if (took > worst) worst = took;
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 3) wrong++;
        }
        kill(h, SIGCONT);
    }
    sh->stop = 1;
    int hs = reap(h);
    ok(WIFEXITED(hs) && WEXITSTATUS(hs) == 0, "the holder ended by itself");
    ok(hung == 0, "EFBIG calls beside the stopped holder: none hung (%d of %d did)", hung,
       BAD_TRIALS);
    ok(wrong == 0, "each answered EFBIG (%d did not)", wrong);
    ok(worst < BAD_MAX, "within %.1f s: worst %.3f s", BAD_MAX, worst);
}

#define P3_RATIO 10000 /* at most 1 EAGAIN in this many calls */
#define P3_S 3.0    /* seconds of part 3 */
#define PHASE_MS 20 /* the holder stopped this long at a time */
#define P3_W 3      /* part 3's workers */

static void claimer(int w) {
    tap_peer_start(60);
    uint64_t rng = 0x2545f4914f6cdd1dull ^ ((uint64_t)getpid() << 21);
    int adj[NU] = {0};
    while (!sh->stop) {
        struct sembuf ops[3];
        int n = 0, next[NU];
        memcpy(next, adj, sizeof next);
        uint64_t r = tap_xorshift(&rng);
        int k = 1 + (int)(r % 3);
        for (int i = 0; i < k; i++) {
            uint64_t q = tap_xorshift(&rng);
            int s = (int)(q % NU);
            short x = (q >> 8) & 1 ? 1 : -1;
            if (i + 1 < k && (q >> 9) % 4 == 0) {
                /* Without SEM_UNDO: x and back, so the values stay put. */
                ops[n++] = (struct sembuf){(unsigned short)s, x, IPC_NOWAIT};
                ops[n++] = (struct sembuf){(unsigned short)s, (short)-x, IPC_NOWAIT};
                i++;
                continue;
            }
            if (next[s] - x < -ADJ_MAX || next[s] - x > ADJ_MAX) x = (short)-x;
            ops[n++] = (struct sembuf){(unsigned short)s, x, SEM_UNDO | IPC_NOWAIT};
            next[s] -= x;
        }
        int g = sh->phase;
        int rc = semop(sid, ops, (size_t)n);
        int e = errno;
        int in = g == sh->phase && (g & 1);
        sh->p3_calls[w] += in;
        if (rc == 0) {
            memcpy(adj, next, sizeof adj);
        } else if (e == EAGAIN) {
            if (in) sh->p3_eagain[w]++;
            else sh->p3_out_eagain[w]++;
        } else {
            sh->p3_odd[w]++;
        }
    }
    _exit(0);
}

static void claims_in_the_way(void) {
    uint64_t rng = 0x9b05688c2b3e6c1full ^ (uint64_t)getpid();
    /* All on one CPU (the first this process may use; the children
     * inherit it): a claimant met mid-claim was preempted by the caller on
     * that CPU, and is the one a yield hands it to — on several CPUs it
     * may be preempted behind other work for a time slice, which no
     * bounded wait covers (counted there too, not asserted: see the
     * docs). */
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof cpus, &cpus) == 0) {
        for (int c = 0; c < CPU_SETSIZE; c++) {
            if (CPU_ISSET(c, &cpus)) {
                CPU_ZERO(&cpus);
                CPU_SET(c, &cpus);
                ok(sched_setaffinity(0, sizeof cpus, &cpus) == 0, "pinned to CPU %d", c);
                break;
            }
        }
    }
    unsigned short init[NSEMS];
    for (int i = 0; i < NSEMS; i++) init[i] = i < NU ? UINIT : 0;
    ok(semctl(sid, 0, SETALL, init) == 0, "SETALL");
    memset((void *)sh, 0, sizeof *sh);
    pid_t h = spawn_w(-1);
    double t0 = tap_now();
    while (sh->holder_rounds < 3 && tap_now() - t0 < 10) sleep_us(500);
    pid_t w[P3_W];
    for (int i = 0; i < P3_W; i++) {
        fflush(stdout);
        w[i] = fork();
        if (w[i] == 0) claimer(i);
    }
    int phases = 0;
    t0 = tap_now();
    while (tap_now() - t0 < P3_S) {
        sleep_us(500 + (long)(tap_xorshift(&rng) % 2000));
        kill(h, SIGSTOP);
        int st;
        waitpid(h, &st, WUNTRACED);
        sh->phase++;
        sleep_us(PHASE_MS * 1000);
        sh->phase++;
        kill(h, SIGCONT);
        phases++;
    }
    sh->stop = 1;
    int ws = 1;
    for (int i = 0; i < P3_W; i++) {
        int st = reap(w[i]);
        ws &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    int hs = reap(h);
    int calls = 0, eagain = 0, out = 0, odd = 0;
    for (int i = 0; i < P3_W; i++) {
        calls += sh->p3_calls[i];
        eagain += sh->p3_eagain[i];
        out += sh->p3_out_eagain[i];
        odd += sh->p3_odd[i];
    }
    diag("%d phases of %d ms with the holder stopped: %d calls in them, %d answered EAGAIN "
         "(%d outside them)",
         phases, PHASE_MS, calls, eagain, out);
    ok(ws && WIFEXITED(hs) && WEXITSTATUS(hs) == 0, "workers and holder ended by themselves");
    ok(calls > 1000, "calls beside the stopped holder (%d)", calls);
    ok(odd == 0, "none answered other than 0 or EAGAIN (%d did)", odd);
    unsigned short v[NSEMS];
    int exact = semctl(sid, 0, GETALL, v) == 0;
    for (int i = 0; i < NU; i++) exact &= v[i] == UINIT;
    ok(exact, "at the end: U all %d (%u %u %u %u)", UINIT, v[0], v[1], v[2], v[3]);
    /* ripc before: 1 in 900-2900 (claims met, the holder seen stopped);
     * after: 1 in 75000-300000 (a claimant preempted past two yields). */
    ok((double)eagain * P3_RATIO <= calls,
       "calls the kernel performs answered EAGAIN: %d of %d (at most 1 in %d)", eagain, calls,
       P3_RATIO);
}

int main(void) {
    if (!(sh = tap_shared_map(sizeof *sh))) return 1;
    /* In use without the lock from the start. */
    if ((sid = tap_warm_set(NSEMS, Z)) < 0) return done_testing();
    /* T_SEM_MULTI_PART3=1: part 3 alone (the measurement in
     * docs/bounded-time.md). */
    if (!getenv("T_SEM_MULTI_PART3")) {
        tap_subtest("random multi-operation semops, a stopped holder, kills", run);
        tap_subtest("calls the set refuses, beside a stopped holder", refused);
    }
    tap_subtest("claims in the way: IPC_NOWAIT calls beside the stopped holder", claims_in_the_way);
    ok(semctl(sid, 0, IPC_RMID) == 0, "removed");
    return done_testing();
}
