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

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REL_HITS 16
#define NOWAIT_MAX 0.25
#define CALL_MAX 1.0

#define CLAIM (1ull << 29)
#define MULTI (1ull << 23)
#define MULTI_REL (1ull << 24)

struct shared {
    volatile int stop;
    volatile long pairs;
    /* the checker's answers: errno (0 ok) and seconds of each call */
    volatile int err[4];
    volatile double took[4];
    volatile int done;
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

static pid_t start_worker(void) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        tap_peer_start(120);
        worker();
    }
    return c;
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

/* The checker's calls on semaphore n. */
static void checker(int n) {
    struct sembuf v = {n, 1, 0}, p_nowait = {n, -1, IPC_NOWAIT};
    struct sembuf uv = {n, 1, SEM_UNDO}, up = {n, -1, SEM_UNDO};
    struct timespec ts = {0, 500000000};
    double t0 = tap_now();
    sh->err[0] = semop(sid, &v, 1) == 0 ? 0 : errno;
    sh->took[0] = tap_now() - t0;
    int made_v = sh->err[0] == 0;
    t0 = tap_now();
    int rc = made_v ? semop(sid, &p_nowait, 1) : -1;
    sh->err[1] = rc == 0 ? 0 : (made_v ? errno : -1);
    sh->took[1] = tap_now() - t0;
    if (rc != 0 && made_v) {
        /* Take our V back. */
        semop(sid, (struct sembuf[]){{n, -1, 0}}, 1);
    }
    t0 = tap_now();
    rc = semtimedop(sid, &uv, 1, &ts);
    sh->err[2] = rc == 0 ? 0 : errno;
    sh->took[2] = tap_now() - t0;
    t0 = tap_now();
    if (rc == 0) {
        sh->err[3] = semop(sid, &up, 1) == 0 ? 0 : errno;
    } else {
        sh->err[3] = 0;
    }
    sh->took[3] = tap_now() - t0;
    sh->done = 1;
    _exit(0);
}

/* The word of semaphore n in the set's file (user backend), 0 when it
 * cannot be read. */
static uint64_t word(int n) {
    unsigned char *p = tap_map_object("sem", sid);
    if (!p) return 0;
    uint64_t w = __atomic_load_n((volatile uint64_t *)(p + 256 + 128 + 8 * n), __ATOMIC_SEQ_CST);
    munmap(p, 4096);
    return w;
}

/* The owed marks in the set's file (user backend): a multi-operation
 * record's outcome words (tag 0x3c5 in their top 12 bits) carrying
 * OUT_OWED (bit 49), and intent records (tag 0x1e7) carrying INTENT_OWED
 * (bit 51). */
static int owed_marks(void) {
    char path[600];
    snprintf(path, sizeof path, "%s/sem.%d", getenv("RIPC_DIR"), sid % 32768);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    struct stat sb;
    int n = 0;
    static uint64_t buf[8192];
    if (fstat(fd, &sb) == 0) {
        off_t end = sb.st_size < (8 << 20) ? sb.st_size : (8 << 20);
        for (off_t at = 0; at < end; at += sizeof buf) {
            ssize_t r = pread(fd, buf, sizeof buf, at);
            if (r <= 0) break;
            for (size_t i = 0; i < (size_t)r / 8; i++) {
                n += buf[i] >> 52 == 0x3c5 && (buf[i] & (1ull << 49));
                n += buf[i] >> 52 == 0x1e7 && (buf[i] & (1ull << 51));
            }
        }
    }
    close(fd);
    return n;
}

/* Polls until no owed mark is left in the file (`within` seconds). */
static int no_marks(double within) {
    double t0 = tap_now();
    do {
        if (owed_marks() == 0) return 1;
        tap_sleep_us(2000);
    } while (tap_now() - t0 < within);
    return 0;
}

static int values_are_0(double within) {
    double t0 = tap_now();
    int a, b;
    do {
        a = semctl(sid, 0, GETVAL);
        b = semctl(sid, 1, GETVAL);
        if (a == 0 && b == 0) return 1;
        tap_sleep_us(2000);
    } while (tap_now() - t0 < within);
    diag("values %d %d, want 0 0", a, b);
    return 0;
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
    fflush(stdout);
    pid_t hp = fork();
    if (hp == 0) {
        tap_peer_start(120);
        holder();
    }
    pid_t w = start_worker();
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
                uint64_t x = word(k);
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
            memset((void *)sh->err, 0, sizeof sh->err);
            sh->done = 0;
            fflush(stdout);
            pid_t c = fork();
            if (c == 0) {
                tap_peer_start(30);
                checker(n);
            }
            /* Bounded: 3 s, then the worker is continued (the checker's
             * calls then end) and the trial counted as hung. */
            double t0 = tap_now();
            while (!sh->done && tap_now() - t0 < 3.0) tap_sleep_us(1000);
            if (!sh->done) {
                hung++;
                diag("trial %d: the checker hangs beside the stopped worker (words %#llx %#llx)", trials,
                     (unsigned long long)word(0), (unsigned long long)word(1));
                kill(w, SIGCONT);
            }
            tap_reap(c);
            /* Inside a word's release the worker owns: its adjustment
             * stored (the release completed in its place), or not yet
             * (the window: released with the adjustment owed). */
            if (in_rel && owed_marks() > 0) owed++;
            for (int k = 0; k < 4; k++) {
                double bound = k == 1 ? NOWAIT_MAX : k == 2 ? 0.6 : CALL_MAX;
                if (sh->took[k] > worst[k]) worst[k] = sh->took[k];
                if (sh->took[k] > bound) {
                    slow++;
                    diag("trial %d: call %d took %.3f s", trials, k, sh->took[k]);
                }
                if (sh->err[k] != 0) {
                    wrong++;
                    diag("trial %d: call %d answered errno %d%s", trials, k, sh->err[k],
                         in_rel ? " (inside its release)" : "");
                }
            }
        }
        if (tap_xorshift(&rng) % 3 == 0) {
            kill(w, SIGKILL);
            tap_reap(w);
            kills++;
            /* Each call made once, its adjustments undone once. */
            if (!values_are_0(2.0)) bad_value++;
            if (user && !no_marks(2.0)) {
                marks_left++;
                diag("trial %d: an owed mark left after the kill", trials);
            }
            w = start_worker();
        } else {
            kill(w, SIGCONT);
            /* Continued: it clears its own marks. */
            if (user && !no_marks(2.0)) {
                marks_left++;
                diag("trial %d: an owed mark left after the continue", trials);
            }
        }
    }
    sh->stop = 1;
    int st = tap_reap(w);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the worker's calls all succeeded (%#x)", st);
    st = tap_reap(hp);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the lock holder's calls all succeeded (%#x)", st);
    diag("%d stops, %d inside the claims (%d inside a release the worker owns: %d in the window, "
         "released with the adjustment owed), %d kills, %ld pairs",
         trials, hits, rel_hits, owed, kills, (long)sh->pairs);
    diag("worst: V %.4f s, IPC_NOWAIT P %.4f s, timed V %.4f s, P %.4f s", worst[0], worst[1],
         worst[2], worst[3]);
    ok(checks > 0, "stops inside the claims checked (%d)", checks);
    ok(hung == 0, "no call waited for the stopped claimant (%d hung)", hung);
    ok(slow == 0, "IPC_NOWAIT within %.0f ms, the others within %.1f s (%d over)", NOWAIT_MAX * 1000,
       CALL_MAX, slow);
    ok(wrong == 0, "every call answered as the kernel (%d did not)", wrong);
    ok(bad_value == 0, "after each kill: the values 0 (%d not)", bad_value);
    ok(marks_left == 0, "no owed mark left after a continue or a kill (%d left)", marks_left);
    ok(values_are_0(2.0), "at the end: the values 0 (each call once, each undo once)");
    ok(semctl(sid, 0, IPC_RMID) == 0, "removed");
    return done_testing();
}
