/* t_sem_multi_undo_stop.c — a process stopped inside its own lock-free
 * two-operation SEM_UNDO semop (docs/sem.md, "An owed adjustment for a
 * multi-operation call (layout 13)"; docs/bounded-time.md, "Sets"), under
 * both backends (the kernel the oracle: every check below holds there
 * too).
 *
 * A worker loops {0 +1, 1 +1} and {0 -1, 1 -1}, each with SEM_UNDO on
 * both operations. A second process keeps the set's lock busy with
 * two-operation calls on semaphores 2 and 3, so that the worker's calls
 * often find the lock held and are made without it (ripc claims both
 * words, commits, then releases each: the word made its own release
 * (MULTI_REL), its adjustment stored, the outcome stored). The parent
 * SIGSTOPs the worker at random moments; with the user backend it reads
 * the two words from the set's file and keeps the stops that landed
 * inside such a call's claims (CLAIM and MULTI bits), in particular
 * inside a word's release owned by the worker (MULTI_REL, the worker's
 * pid). Then a checker process makes, on that semaphore, an untimed V,
 * an IPC_NOWAIT P (which the kernel performs: the V made the value at
 * least 1), a 500 ms timed V with SEM_UNDO and an untimed P with
 * SEM_UNDO: each must succeed, the IPC_NOWAIT one within 250 ms, the
 * others within 1 s. Before layout 13 a stop between the worker's
 * MULTI_REL and its adjustment's store made every one of these calls
 * wait for the worker (the untimed V until the 3 s bound: not ok, the
 * IPC_NOWAIT P EAGAIN); now the word is released with the adjustment
 * owed (OUT_OWED, bit 49 of the record's outcome word, tag 0x3c5, found
 * by scanning the file after the checker's calls): those landings are
 * counted apart.
 *
 * Then the worker is continued (2 in 3) or SIGKILLed (and replaced):
 * after a kill, once its undo is applied, both values are 0 again (each
 * call made once, its adjustments undone once) and no owed mark is left;
 * continued, the worker clears its marks; at the end it exits and both
 * values are 0.
 *
 * Argument: the seconds to run (default 12); it stops earlier once
 * REL_HITS stops landed inside a release the worker owns (the kernel:
 * after 4 × REL_HITS checks).
 */
#include "ripc_sysv.h"
#include "tap.h"
#include "sem_stop.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REL_HITS 16

#define CLAIM (1ull << 29)
#define MULTI (1ull << 23)
#define MULTI_REL (1ull << 24)

struct shared {
    volatile int stop;
    volatile long pairs;
    struct stop_calls calls;
};

static struct shared *sh;
static int sid = -1;

static void worker(void) {
    struct sembuf v[2] = {{0, 1, SEM_UNDO}, {1, 1, SEM_UNDO}};
    struct sembuf p[2] = {{0, -1, SEM_UNDO}, {1, -1, SEM_UNDO}};
    while (!sh->stop) {
        if (semop(sid, v, 2) != 0 || semop(sid, p, 2) != 0) _exit(2);
        sh->pairs++;
    }
    _exit(0);
}

/* Keeps the set's lock busy (two-operation calls take it). */
static void holder(void) {
    struct sembuf v[2] = {{2, 1, 0}, {3, 1, 0}};
    struct sembuf p[2] = {{2, -1, 0}, {3, -1, 0}};
    while (!sh->stop) {
        if (semop(sid, v, 2) != 0 || semop(sid, p, 2) != 0) _exit(2);
    }
    _exit(0);
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 12;
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) return 1;
    sid = semget(IPC_PRIVATE, 4, IPC_CREAT | 0600);
    ok(sid >= 0, "semget");
    if (sid < 0) return done_testing();
    int user = !backend_is_kernel();
    uint64_t rng = 0x853c49e6748fea9bull ^ (uint64_t)getpid();
    pid_t hp = stop_fork(holder);
    pid_t w = stop_fork(worker);
    int trials = 0, hits = 0, rel_hits = 0, owed = 0, checks = 0, kills = 0, slow = 0, wrong = 0, hung = 0,
        bad_value = 0, marks_left = 0;
    double worst[4] = {0};
    double t_start = tap_now();
    while (tap_now() - t_start < secs && rel_hits < REL_HITS && (user || hits < REL_HITS * 4)) {
        tap_sleep_us(200 + (long)(tap_xorshift(&rng) % 3000));
        kill(w, SIGSTOP);
        int st = 0;
        while (waitpid(w, &st, WUNTRACED) < 0 && errno == EINTR) {
        }
        if (!WIFSTOPPED(st)) {
            diag("worker ended (%#x)", st);
            wrong++;
            break;
        }
        trials++;
        int in_claim = 0, in_rel = 0, n = 0;
        if (user) {
            for (int k = 0; k < 2; k++) {
                uint64_t x = stop_word(sid, k);
                int claimed = (x & (CLAIM | MULTI)) == (CLAIM | MULTI);
                int rel = claimed && (x & MULTI_REL) && (pid_t)(x >> 32) == w;
                if (claimed && !in_rel) n = k;
                in_claim |= claimed;
                if (rel && !in_rel) {
                    in_rel = 1;
                    n = k;
                }
            }
        } else {
            in_claim = trials % 4 == 0; /* the same checks, on the kernel */
            n = trials % 2;
        }
        if (in_claim) {
            hits++;
            rel_hits += in_rel;
            checks++;
            if (stop_run_checker(sid, n, &sh->calls, w)) {
                hung++;
                diag("trial %d: the checker hangs beside the stopped worker (words %#llx %#llx)", trials,
                     (unsigned long long)stop_word(sid, 0), (unsigned long long)stop_word(sid, 1));
            }
            /* Inside a word's release the worker owns: its adjustment
             * stored (the release completed in its place), or not yet
             * (the window: released with the adjustment owed). */
            if (in_rel && stop_owed_marks(sid) > 0) owed++;
            stop_judge(&sh->calls, trials, in_rel ? " (inside its release)" : "", worst, &slow, &wrong);
        }
        w = stop_end_trial(w, worker, sid, 2, user, trials, &rng, &kills, &bad_value, &marks_left);
    }
    sh->stop = 1;
    int st = tap_reap(w);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the worker's calls all succeeded (%#x)", st);
    st = tap_reap(hp);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the lock holder's calls all succeeded (%#x)", st);
    diag("%d stops, %d inside the claims (%d inside a release the worker owns: %d in the window, "
         "released with the adjustment owed), %d kills, %ld pairs",
         trials, hits, rel_hits, owed, kills, (long)sh->pairs);
    stop_verdicts(worst, checks, hung, slow, wrong, bad_value, marks_left);
    ok(stop_values_zero(sid, 2, 2.0), "at the end: the values 0 (each call once, each undo once)");
    ok(semctl(sid, 0, IPC_RMID) == 0, "removed");
    return done_testing();
}
