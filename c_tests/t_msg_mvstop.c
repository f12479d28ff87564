/* t_msg_mvstop.c — a queue mover stopped in the middle of its move delays
 * no untimed call (docs/bounded-time.md, "Taking over a stalled move"),
 * under both backends (the kernel the oracle: every check holds there).
 *
 * A holder child loops: msgsnd of a numbered message (type 1), then an
 * IPC_NOWAIT msgrcv of type 1, which must return that very number (a
 * message lost: ENOMSG; one sent or left twice: an older number — either
 * ends the holder with an error). The parent SIGSTOPs it at random
 * moments and, with the user backend, keeps the stops that landed inside
 * one of the queue's locks (the lock word in the queue's file names it).
 * Then a mover child makes an untimed msgsnd and msgrcv of type 3, which
 * meets the stopped holder and moves the queue away from it after the
 * grace (20 ms); the parent watches the queue's lock words until one
 * carries the mover's fence, waits a random 0–400 us more, SIGSTOPs the
 * mover, and keeps the stops that landed inside the move: a lock word of the queue's
 * file carries the mover's fence, or a temporary file of the mover's
 * (`.new.<pid>.`) is in the namespace. Then a third process makes an
 * untimed msgsnd and msgrcv of type 2: both must return within 2 s
 * (before the takeover they waited as long as the mover stayed stopped:
 * for ever here). Then the mover is continued (2 in 3) or SIGKILLed, and
 * the holder continued.
 *
 * Exact counts: the holder's sends and receives each made once (its own
 * check, every round); the movers' type-3 messages left in the queue at
 * the end are exactly those sent and not received (a mover killed in the
 * middle of its move had not made the call it was moving for); no type-2
 * message left; msg_qnum 0 once drained. With the kernel backend every
 * fourth stop of each child counts as landed and the same checks run.
 * Every wait is bounded (3 s, then counted as hung). A killed mover's
 * temporary file may stay (only one per killed mover) until ripcs sweeps
 * it; then no `.new.` file is left, and run1.sh checks that no file is.
 *
 * Argument: the seconds to run (default 20); it stops earlier once HITS
 * stops landed inside a move.
 */
#include "ripc_sysv.h"
#include "tap.h"

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define HITS 12
#define CALL_MAX 2.0

struct msg {
    long mtype;
    long n;
};

struct shared {
    volatile int stop;
    volatile long rounds;  /* the holder's completed send+receive pairs */
    volatile int sent3;    /* the movers' type-3 sends made */
    volatile int got3;     /* the movers' type-3 receives made */
    volatile int try3;     /* the movers' type-3 sends begun (a mover killed
                              between its call and its count leaves one
                              uncounted) */
    volatile int tryget3;  /* the movers' type-3 receives begun */
    volatile int third_err;
    volatile double third_took;
    volatile int third_done;
};

static struct shared *sh;
static int qid = -1;

static void holder(void) {
    struct msg m, r;
    long n = 0;
    while (!sh->stop) {
        m.mtype = 1;
        m.n = ++n;
        if (msgsnd(qid, &m, sizeof m.n, 0) != 0) _exit(2);
        ssize_t k = msgrcv(qid, &r, sizeof r.n, 1, IPC_NOWAIT);
        if (k < 0) _exit(errno == ENOMSG ? 3 : 2); /* lost */
        if (k != sizeof r.n || r.n != n) _exit(4);  /* twice, or torn */
        sh->rounds = n;
    }
    _exit(0);
}

static void mover(void) {
    struct msg m = {3, 3}, r;
    __atomic_add_fetch(&sh->try3, 1, __ATOMIC_SEQ_CST);
    if (msgsnd(qid, &m, sizeof m.n, 0) != 0) _exit(2);
    __atomic_add_fetch(&sh->sent3, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&sh->tryget3, 1, __ATOMIC_SEQ_CST);
    if (msgrcv(qid, &r, sizeof r.n, 3, 0) != sizeof r.n) _exit(2);
    __atomic_add_fetch(&sh->got3, 1, __ATOMIC_SEQ_CST);
    _exit(0);
}

static void third(void) {
    struct msg m = {2, 2}, r;
    double t0 = tap_now();
    int err = 0;
    if (msgsnd(qid, &m, sizeof m.n, 0) != 0)
        err = errno;
    else if (msgrcv(qid, &r, sizeof r.n, 2, 0) != sizeof r.n)
        err = errno ? errno : -1;
    sh->third_took = tap_now() - t0;
    sh->third_err = err;
    sh->third_done = 1;
    _exit(0);
}

static pid_t spawn(void (*fn)(void), unsigned alarm_s) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        tap_peer_start(alarm_s);
        fn();
    }
    return c;
}

/* Stops our child `c`: 1 once stopped, 0 when it ended (status in *st). */
static int stop(pid_t c, int *st) {
    kill(c, SIGSTOP);
    while (waitpid(c, st, WUNTRACED) < 0 && errno == EINTR) {
    }
    return WIFSTOPPED(*st);
}

/* Waits up to `secs` for our child `c` to end: its status, or -1 (then
 * it is SIGKILLed and reaped). */
static int reap_within(pid_t c, double secs) {
    double t0 = tap_now();
    int st = 0;
    for (;;) {
        pid_t r = waitpid(c, &st, WNOHANG);
        if (r == c) return st;
        if (r < 0 && errno != EINTR) return -1;
        if (tap_now() - t0 > secs) {
            kill(c, SIGKILL);
            tap_reap(c);
            return -1;
        }
        tap_sleep_us(1000);
    }
}

/* The lock words of the queue's file (user backend): slock, rlock. */
static void lock_words(uint32_t w[2]) {
    w[0] = w[1] = 0;
    unsigned char *p = tap_map_object("msg", qid);
    if (!p) return;
    w[0] = __atomic_load_n((volatile uint32_t *)(p + 256), __ATOMIC_SEQ_CST);
    w[1] = __atomic_load_n((volatile uint32_t *)(p + 256 + 128), __ATOMIC_SEQ_CST);
    munmap(p, 4096);
}

#define WORD_PID ((1u << 30) - 1)
#define WORD_FENCE (1u << 30)

static int holds_lock(pid_t h) {
    uint32_t w[2];
    lock_words(w);
    for (int i = 0; i < 2; i++)
        if ((w[i] & (WORD_FENCE | WORD_PID)) == (uint32_t)h) return 1;
    return 0;
}

/* Whether mover `m` is inside its move: a lock carries its fence, or its
 * temporary file is in the namespace. */
static int in_move(pid_t m) {
    uint32_t w[2];
    lock_words(w);
    for (int i = 0; i < 2; i++)
        if ((w[i] & (WORD_FENCE | WORD_PID)) == (WORD_FENCE | (uint32_t)m)) return 1;
    char prefix[40];
    snprintf(prefix, sizeof prefix, ".new.%d.", (int)m);
    return tap_count_names(getenv("RIPC_DIR"), prefix, 0) > 0;
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 20;
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) return 1;
    qid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ok(qid >= 0, "msgget");
    if (qid < 0) return done_testing();
    int user = !backend_is_kernel();
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    pid_t h = spawn(holder, 300);
    int stops = 0, in_lock = 0, hits = 0, kills = 0, slow = 0, wrong = 0, hung = 0, bad_mover = 0;
    double worst = 0;
    double t_start = tap_now();
    while (tap_now() - t_start < secs && hits < HITS && !wrong) {
        tap_sleep_us(200 + (long)(tap_xorshift(&rng) % 2000));
        int st = 0;
        if (!stop(h, &st)) {
            diag("the holder ended (status %#x: 3 a message lost, 4 one twice)", st);
            wrong++;
            h = -1;
            break;
        }
        stops++;
        int held = user ? holds_lock(h) : stops % 4 == 0;
        if (!held) {
            kill(h, SIGCONT);
            continue;
        }
        in_lock++;
        pid_t m = spawn(mover, 120);
        /* (The kernel: every fourth, the mover stopped or not.) */
        int landed = !user && in_lock % 4 == 0;
        int ended = 0;
        if (user) {
            /* Stops the mover at random points, 0.1-1.5 ms apart, until
             * one lands inside its move (a lock carries its fence, or its
             * temporary file is there) or it ends; it is continued after
             * each stop that missed. Each look is made with the mover
             * stopped, so a busy CPU cannot hide a short move from the
             * test (a watcher spinning for the fence missed every move in
             * 1 to 2 of 6 runs beside a busy loop). Bounded: 2 s, then
             * the trial counts as missed. */
            double t0 = tap_now();
            for (;;) {
                tap_sleep_us(100 + (long)(tap_xorshift(&rng) % 1400));
                if (!stop(m, &st)) {
                    ended = 1;
                    break;
                }
                if (in_move(m)) {
                    landed = 1;
                    break;
                }
                if (tap_now() - t0 > 2.0) break;
                kill(m, SIGCONT);
            }
        } else {
            tap_sleep_us((long)(tap_xorshift(&rng) % 2000));
            ended = !stop(m, &st);
        }
        if (ended) {
            /* It ended already (it moved the queue, or the kernel). */
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) bad_mover++;
            m = -1;
        }
        if (landed) {
            hits++;
            sh->third_done = 0;
            sh->third_err = 0;
            pid_t c = spawn(third, 60);
            /* Bounded: 3 s, then the mover is continued (the third's
             * calls then end) and the trial counted as hung. */
            double t0 = tap_now();
            while (!sh->third_done && tap_now() - t0 < 3.0) tap_sleep_us(1000);
            if (!sh->third_done) {
                hung++;
                uint32_t w[2];
                lock_words(w);
                diag("stop %d: the third's calls hang beside the stopped mover %d (locks %#x %#x)", stops,
                     (int)m, w[0], w[1]);
                kill(m, SIGCONT);
                kill(h, SIGCONT);
            }
            if (reap_within(c, 5.0) < 0 || !sh->third_done) {
                wrong++;
                diag("stop %d: the third did not end", stops);
            } else {
                if (sh->third_err != 0) {
                    wrong++;
                    diag("stop %d: the third's calls failed (errno %d)", stops, sh->third_err);
                }
                if (sh->third_took > worst) worst = sh->third_took;
                if (sh->third_took > CALL_MAX) {
                    slow++;
                    diag("stop %d: the third's calls took %.3f s", stops, sh->third_took);
                }
            }
        }
        if (m > 0) {
            int killed = landed && tap_xorshift(&rng) % 3 == 0;
            kill(m, killed ? SIGKILL : SIGCONT);
            kills += killed;
            int ms = reap_within(m, 5.0);
            if (!killed && (ms < 0 || !WIFEXITED(ms) || WEXITSTATUS(ms) != 0)) {
                bad_mover++;
                diag("stop %d: the mover ended with %#x", stops, ms);
            }
        }
        kill(h, SIGCONT);
    }
    diag("%d stops of the holder, %d inside a lock, %d movers stopped inside the move (%d killed); "
         "the third's calls: worst %.3f s",
         stops, in_lock, hits, kills, worst);
    ok(hits > 0, "some mover stopped inside its move (%d)", hits);
    ok(hung == 0, "the third's untimed calls never waited for the stopped mover (%d hung)", hung);
    ok(slow == 0, "each within %.1f s (%d slower)", CALL_MAX, slow);
    ok(bad_mover == 0, "every mover continued made its calls (%d did not)", bad_mover);
    ok(wrong == 0, "nothing wrong on the way (%d)", wrong);
    if (h > 0) {
        sh->stop = 1;
        kill(h, SIGCONT);
        int st = reap_within(h, 5.0);
        ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
           "the holder's every message received once, in order (%ld rounds; status %#x: 3 lost, 4 twice)",
           sh->rounds, st);
    }
    int left3 = 0, left_other = 0;
    struct msg r;
    while (msgrcv(qid, &r, sizeof r.n, 0, IPC_NOWAIT) == sizeof r.n) {
        if (r.mtype == 3)
            left3++;
        else
            left_other++;
    }
    /* Exact but for the movers killed between a call and its count: each
     * such call may or may not have been made (its message sent, or taken). */
    int unsure = (sh->try3 - sh->sent3) + (sh->tryget3 - sh->got3);
    ok(unsure <= kills, "calls of killed movers not known to be made: %d, by %d killed movers at most", unsure, kills);
    ok(left3 >= sh->sent3 - sh->tryget3 && left3 <= sh->try3 - sh->got3,
       "type 3 left: %d, sent %d (%d begun), received %d (%d begun)", left3, sh->sent3, sh->try3, sh->got3,
       sh->tryget3);
    ok(left_other == 0, "no other message left (%d)", left_other);
    struct msqid_ds ds;
    ok(msgctl(qid, IPC_STAT, &ds) == 0 && ds.msg_qnum == 0, "msg_qnum 0 once drained");
    /* A mover killed inside its copy (taken over while stopped: nobody
     * ends its move) leaves its temporary file, as a killed set mover's:
     * only those, swept by the next create that needs the room, and by
     * ripcs. */
    const char *dir = getenv("RIPC_DIR");
    int tmp = user && dir ? tap_count_names(dir, ".new.", 0) : 0;
    ok(tmp <= kills, "temporary files left: %d, by %d killed movers at most", tmp, kills);
    ok(tap_tool("ripcs", "") == 0, "ripcs (sweeps killed movers' files)");
    tmp = user && dir ? tap_count_names(dir, ".new.", 0) : 0;
    ok(tmp == 0, "no temporary file left after ripcs (%d)", tmp);
    ok(msgctl(qid, IPC_RMID, NULL) == 0, "removed");
    return done_testing();
}
