/* sem_stop.h — the pieces t_sem_undo_stop and t_sem_multi_undo_stop
 * share: a checker process's four calls on one semaphore beside a
 * stopped worker, the judging of its answers, and the owed marks found
 * in the set's file (user backend). Include after tap.h. */
#ifndef RIPC_SEM_STOP_H
#define RIPC_SEM_STOP_H

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STOP_NOWAIT_MAX 0.25
#define STOP_CALL_MAX 1.0

/* The checker's answers: errno (0 ok) and seconds of each call; `done`
 * once it has made them all. In shared memory. */
struct stop_calls {
    volatile int err[4];
    volatile double took[4];
    volatile int done;
};

/* In a forked checker: on semaphore n of set sid, an untimed V, an
 * IPC_NOWAIT P (which the kernel performs: the V made the value at least
 * 1), a 500 ms timed V with SEM_UNDO and an untimed P with SEM_UNDO;
 * answers into c, then _exit. */
static inline void stop_checker(int sid, int n, struct stop_calls *c) {
    struct sembuf v = {n, 1, 0}, p_nowait = {n, -1, IPC_NOWAIT};
    struct sembuf uv = {n, 1, SEM_UNDO}, up = {n, -1, SEM_UNDO};
    struct timespec ts = {0, 500000000};
    double t0 = tap_now();
    c->err[0] = semop(sid, &v, 1) == 0 ? 0 : errno;
    c->took[0] = tap_now() - t0;
    int made_v = c->err[0] == 0;
    t0 = tap_now();
    int rc = made_v ? semop(sid, &p_nowait, 1) : -1;
    c->err[1] = rc == 0 ? 0 : (made_v ? errno : -1);
    c->took[1] = tap_now() - t0;
    if (rc != 0 && made_v) {
        /* Take our V back. */
        semop(sid, (struct sembuf[]){{n, -1, 0}}, 1);
    }
    t0 = tap_now();
    rc = semtimedop(sid, &uv, 1, &ts);
    c->err[2] = rc == 0 ? 0 : errno;
    c->took[2] = tap_now() - t0;
    t0 = tap_now();
    if (rc == 0) {
        c->err[3] = semop(sid, &up, 1) == 0 ? 0 : errno;
    } else {
        c->err[3] = 0;
    }
    c->took[3] = tap_now() - t0;
    c->done = 1;
    _exit(0);
}

/* Runs stop_checker on semaphore n in a forked process beside the
 * stopped worker w, bounded: 3 s, then the worker is continued (the
 * checker's calls then end). Returns 1 when it had to be (hung). */
static inline int stop_run_checker(int sid, int n, struct stop_calls *c, pid_t w) {
    memset((void *)c, 0, sizeof *c);
    fflush(stdout);
    pid_t k = fork();
    if (k == 0) {
        tap_peer_start(30);
        stop_checker(sid, n, c);
    }
    double t0 = tap_now();
    while (!c->done && tap_now() - t0 < 3.0) tap_sleep_us(1000);
    int hung = !c->done;
    if (hung) kill(w, SIGCONT);
    tap_reap(k);
    return hung;
}

/* Judges the checker's answers of trial `trial`: each call within its
 * bound (IPC_NOWAIT STOP_NOWAIT_MAX, the timed one 0.6 s, the others
 * STOP_CALL_MAX) into *slow, each answered 0 into *wrong; worst[] the
 * slowest of each call so far. `where`: said with a wrong answer. */
static inline void stop_judge(const struct stop_calls *c, int trial, const char *where,
                              double worst[4], int *slow, int *wrong) {
    for (int k = 0; k < 4; k++) {
        double bound = k == 1 ? STOP_NOWAIT_MAX : k == 2 ? 0.6 : STOP_CALL_MAX;
        if (c->took[k] > worst[k]) worst[k] = c->took[k];
        if (c->took[k] > bound) {
            (*slow)++;
            diag("trial %d: call %d took %.3f s", trial, k, c->took[k]);
        }
        if (c->err[k] != 0) {
            (*wrong)++;
            diag("trial %d: call %d answered errno %d%s", trial, k, c->err[k], where);
        }
    }
}

/* The verdicts of a run: the slowest answer of each call, then that
 * stops were checked (`checks`), none hung, none over its bound (`slow`),
 * every answer 0 (`wrong`), the values 0 after each kill (`bad_value`),
 * no owed mark left (`marks_left`). */
static inline void stop_verdicts(const double worst[4], int checks, int hung, int slow, int wrong,
                                 int bad_value, int marks_left) {
    diag("worst: V %.4f s, IPC_NOWAIT P %.4f s, timed V %.4f s, P %.4f s", worst[0], worst[1],
         worst[2], worst[3]);
    ok(checks > 0, "stops inside the claims checked (%d)", checks);
    ok(hung == 0, "no call waited for the stopped claimant (%d hung)", hung);
    ok(slow == 0, "IPC_NOWAIT within %.0f ms, the others within %.1f s (%d over)", STOP_NOWAIT_MAX * 1000,
       STOP_CALL_MAX, slow);
    ok(wrong == 0, "every call answered as the kernel (%d did not)", wrong);
    ok(bad_value == 0, "after each kill: the values 0 (%d not)", bad_value);
    ok(marks_left == 0, "no owed mark left after a continue or a kill (%d left)", marks_left);
}

/* The owed marks in set sid's file (user backend): intent records (tag
 * 0x1e7 in their top 12 bits) carrying INTENT_OWED (bit 51), and a
 * multi-operation record's outcome words (tag 0x3c5) carrying OUT_OWED
 * (bit 49). */
static inline int stop_owed_marks(int sid) {
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
                n += buf[i] >> 52 == 0x1e7 && (buf[i] & (1ull << 51));
                n += buf[i] >> 52 == 0x3c5 && (buf[i] & (1ull << 49));
            }
        }
    }
    close(fd);
    return n;
}

/* Polls until no owed mark is left in set sid's file (`within` s). */
static inline int stop_no_marks(int sid, double within) {
    double t0 = tap_now();
    do {
        if (stop_owed_marks(sid) == 0) return 1;
        tap_sleep_us(2000);
    } while (tap_now() - t0 < within);
    return 0;
}

/* The word of semaphore n in set sid's file (user backend), 0 when it
 * cannot be read. */
static inline uint64_t stop_word(int sid, int n) {
    unsigned char *p = tap_map_object("sem", sid);
    if (!p) return 0;
    uint64_t w = __atomic_load_n((volatile uint64_t *)(p + 256 + 128 + 8 * n), __ATOMIC_SEQ_CST);
    munmap(p, 4096);
    return w;
}

/* Polls until semaphores 0 .. nsems-1 of set sid are all 0 (`within`
 * seconds). */
static inline int stop_values_zero(int sid, int nsems, double within) {
    double t0 = tap_now();
    int bad = 0, v = 0;
    do {
        bad = -1;
        for (int k = 0; k < nsems && bad < 0; k++) {
            v = semctl(sid, k, GETVAL);
            if (v != 0) bad = k;
        }
        if (bad < 0) return 1;
        tap_sleep_us(2000);
    } while (tap_now() - t0 < within);
    diag("semaphore %d: value %d, want 0", bad, v);
    return 0;
}

/* Forks a peer (under a 120 s alarm) that runs fn, which never returns. */
static inline pid_t stop_fork(void (*fn)(void)) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        tap_peer_start(120);
        fn();
        _exit(0);
    }
    return c;
}

/* Ends a stop of worker w: SIGKILLed one time in 3 (then, once its undo
 * is applied, semaphores 0 .. nsems-1 must be 0 again, into *bad_value,
 * and a new worker is started by `start`), else continued; with the user
 * backend no owed mark may be left either way (into *marks_left).
 * Returns the worker. */
static inline pid_t stop_end_trial(pid_t w, void (*start)(void), int sid, int nsems, int user, int trial,
                                   uint64_t *rng, int *kills, int *bad_value, int *marks_left) {
    int killed = tap_xorshift(rng) % 3 == 0;
    if (killed) {
        kill(w, SIGKILL);
        tap_reap(w);
        (*kills)++;
        /* Each call made once, its adjustments undone once. */
        if (!stop_values_zero(sid, nsems, 2.0)) (*bad_value)++;
    } else {
        kill(w, SIGCONT);
    }
    /* Killed: its undo paid its marks; continued: it cleared them. */
    if (user && !stop_no_marks(sid, 2.0)) {
        (*marks_left)++;
        diag("trial %d: an owed mark left after the %s", trial, killed ? "kill" : "continue");
    }
    return killed ? stop_fork(start) : w;
}

#endif
