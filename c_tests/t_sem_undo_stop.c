/* t_sem_undo_stop.c — a process stopped inside its own lock-free
 * SEM_UNDO operation (docs/sem.md, "A stopped one-operation claimant
 * (layout 10)"; docs/bounded-time.md, "Sets"), under both backends (the
 * kernel the oracle: every check below holds there too).
 *
 * A worker loops SEM_UNDO V and P on semaphore 0 (lock-free in ripc: it
 * claims the word, records its intent, commits, stores its adjustment,
 * releases). The parent SIGSTOPs it at random moments; with the user
 * backend it reads the semaphore's word from the set's file and keeps
 * the stops that landed inside the claim (CLAIM bit, not a
 * multi-operation one). Then a checker process makes, on that very
 * semaphore, an untimed V, an IPC_NOWAIT P (which the kernel performs:
 * the V made the value at least 1), a timed (500 ms) V with SEM_UNDO and
 * an untimed P with SEM_UNDO: each must succeed, the IPC_NOWAIT one
 * within 250 ms, the others within 1 s. Before layout 10 the untimed V
 * waited until the worker was continued (the lock holder met the claim,
 * let the lock go and tried again) and the IPC_NOWAIT P answered EAGAIN.
 * Stops that landed between the worker's commit and its adjustment's
 * store (one store's window) waited so until layout 12; now the word is
 * released with the adjustment owed (INTENT_OWED in the worker's intent
 * record, found by scanning the file after the checker's calls): those
 * landings are counted apart, and the same calls must go through there
 * too (on layout 10/11 the untimed V waits the 3 s bound: not ok).
 *
 * Then the worker is continued (2 in 3) or SIGKILLed (and replaced):
 * after a kill, once its undo is applied, the value is 0 again (its V
 * and P each made once, its adjustment undone once) and no owed mark is
 * left; continued, the worker clears its mark; at the end, the worker
 * exits and the value is 0.
 *
 * Argument: the seconds to run (default 12); it stops earlier once
 * HITS stops landed inside the claim.
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

#define HITS 24

struct shared {
    volatile int stop;
    volatile long pairs;
    struct stop_calls calls;
};

static struct shared *sh;
static int sid = -1;

static void worker(void) {
    struct sembuf v = {0, 1, SEM_UNDO}, p = {0, -1, SEM_UNDO};
    while (!sh->stop) {
        if (semop(sid, &v, 1) != 0 || semop(sid, &p, 1) != 0) _exit(2);
        sh->pairs++;
    }
    _exit(0);
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 12;
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) return 1;
    sid = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    ok(sid >= 0, "semget");
    if (sid < 0) return done_testing();
    int user = !backend_is_kernel();
    uint64_t rng = 0x853c49e6748fea9bull ^ (uint64_t)getpid();
    pid_t w = stop_fork(worker);
    int trials = 0, hits = 0, rel_hits = 0, owed = 0, checks = 0, kills = 0, slow = 0, wrong = 0, hung = 0,
        bad_value = 0, marks_left = 0;
    double worst[4] = {0};
    double t_start = tap_now();
    while (tap_now() - t_start < secs && hits < HITS) {
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
        int in_claim, in_rel = 0;
        if (user) {
            uint64_t x = stop_word(sid, 0);
            in_claim = (x & (1ull << 29)) && !(x & (1ull << 23));
            in_rel = in_claim && (x & (1ull << 30));
        } else {
            in_claim = trials % 4 == 0; /* the same checks, on the kernel */
        }
        if (in_claim) {
            hits++;
            rel_hits += in_rel;
            checks++;
            if (stop_run_checker(sid, 0, &sh->calls, w)) {
                hung++;
                diag("trial %d: the checker hangs beside the stopped worker (word %#llx)", trials,
                     (unsigned long long)stop_word(sid, 0));
            }
            /* After the commit: its adjustment stored (the release
             * completed in its place), or not yet (the one store's
             * window: released with the adjustment owed). */
            if (in_rel && stop_owed_marks(sid) > 0) owed++;
            stop_judge(&sh->calls, trials, in_rel ? " (in the window)" : "", worst, &slow, &wrong);
        }
        w = stop_end_trial(w, worker, sid, 1, user, trials, &rng, &kills, &bad_value, &marks_left);
    }
    sh->stop = 1;
    int st = tap_reap(w);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the worker's calls all succeeded (%#x)", st);
    diag("%d stops, %d inside the claim (%d after the commit: %d in the one store's window, released "
         "with the adjustment owed), %d kills, %ld pairs",
         trials, hits, rel_hits, owed, kills, (long)sh->pairs);
    stop_verdicts(worst, checks, hung, slow, wrong, bad_value, marks_left);
    ok(stop_values_zero(sid, 1, 2.0), "at the end: the value 0 (each V and P once, each undo once)");
    ok(semctl(sid, 0, IPC_RMID) == 0, "removed");
    return done_testing();
}
