/* t_bounded.c — every call's time is bounded by what it asked for
 * (docs/bounded-time.md), under both backends.
 *
 * 1. A stopped peer: a well-behaved child loops msgsnd/msgrcv (or semop
 *    P/V) on an object and is SIGSTOPped at a random moment, 24 times for
 *    each (the issue saw 3-8 of 20 block for over 2 s); each time the
 *    parent's IPC_NOWAIT msgsnd, msgrcv and semop must return within
 *    250 ms (ripc: the lock's NOWAIT bound is 10 ms; the kernel: at once),
 *    a 100 ms semtimedop within its deadline + 100 ms (plus what a plain
 *    100 ms nanosleep overran right after; a late call is repeated once
 *    against the same stopped peer and fails only when late again), and a
 *    100 ms ripc_queue_recv and ripc_queue_send within 500 ms (QTIMED_MAX;
 *    a call late once is made again, and counted only when late twice).
 * 2. Timed calls while a peer keeps the word they wait on moving:
 *    ripc_queue_recv(type 1, 100 ms) while a peer streams type 2 through
 *    the queue, and semtimedop(-2, 100 ms) on a semaphore a peer keeps
 *    moving between 0 and 1 (every V tries the sleeper), return by
 *    deadline + 20 ms (median of 5; each within + 60 ms), less each time
 *    what a plain 100 ms nanosleep overran right after (the scheduling
 *    latency of a loaded machine, which the kernel's calls pay too).
 * 3. User backend only: the wedge — a lock word naming pid 1 and pid 1's
 *    start time, written into the object file as any member could.
 *    IPC_NOWAIT msgsnd and msgrcv are performed within 250 ms, as the
 *    kernel performs them (init holds no liveness mark in the namespace:
 *    the word is a scribble, taken over at the first look; before
 *    2026-12-07 they answered EAGAIN/ENOMSG for as long as the word
 *    stayed), an IPC_NOWAIT P on a semaphore of value 0 answers EAGAIN
 *    within 250 ms and a 100 ms semtimedop by its deadline + 100 ms,
 *    IPC_STAT and IPC_RMID answer within 2 s, and an untimed msgsnd gets
 *    through once the lock
 *    is found to be nobody's (init neither maps the file nor holds a
 *    liveness mark in the namespace) — by root, and by uid 65534, who
 *    may not read init's memory map (before 2026-12-07 only root got
 *    through, and only where init's map was readable).
 *
 * Every child runs under alarm(); the parent kills what it started. Each
 * part runs as a subtest (tap_subtest): a call that never returns (the
 * old unbounded lock) fails its part after 120 s instead of hanging.
 */
#include <ripc.h>

#include "ripc_sysv.h"
#include "tap.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NOWAIT_MAX 0.25 /* seconds an IPC_NOWAIT call may take here */
#define TRIALS 48 /* half queues, half semaphores */
/* Seconds a 100 ms native queue call may take beside a stopped peer: not
 * blocked by it (before: for ever). Wider than semtimedop's 200 ms: the
 * kernel backend serves these timeouts by retrying every millisecond, and
 * one late wake-up on a loaded machine (make test, load 16) took it past
 * 200 ms. Accuracy is the traffic parts' business (deadline + 20 ms). */
#define QTIMED_MAX 0.5

/* How late a plain 100 ms nanosleep returns right now (tap_nap_over). */
#define nap_over() tap_nap_over(0.1)

static int user_backend(void) {
    const char *b = getenv("RIPC_BACKEND");
    return !b || strcmp(b, "kernel") != 0;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

/* A peer's start: tap_peer_start. */
#define peer_start tap_peer_start

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

struct qmsg {
    long mtype;
    char text[64];
};

/* The child: send and receive on q forever (a well-behaved peer). */
static void queue_peer(int q) {
    struct qmsg m = {1, "x"};
    peer_start(60);
    for (;;) {
        if (msgsnd(q, &m, sizeof m.text, 0) != 0) _exit(1);
        if (msgrcv(q, &m, sizeof m.text, 0, 0) < 0) _exit(2);
    }
}

static void sem_peer(int s) {
    struct sembuf p = {0, -1, 0}, v = {0, 1, 0};
    peer_start(60);
    for (;;) {
        if (semop(s, &p, 1) != 0) _exit(1);
        if (semop(s, &v, 1) != 0) _exit(2);
    }
}

static void stop_and_measure(void) {
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    int s = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    ok(q >= 0 && s >= 0 && semctl(s, 0, SETVAL, 1) == 0, "a queue and a set (value 1)");
    double worst_q = 0, worst_s = 0, worst_t = 0;
    int slow_q = 0, slow_s = 0, slow_t = 0, slow_qt = 0, broken = 0;
    double worst_qt = 0;
    ripc_queue *nq = q >= 0 ? ripc_queue_open_id(NULL, q) : NULL;
    ok(nq != NULL, "the queue's native handle");
    if (!nq) return;
    for (int i = 0; i < TRIALS; i++) {
        pid_t c = fork();
        if (c == 0) {
            if (i % 2 == 0) queue_peer(q);
            sem_peer(s);
        }
        sleep_us(2000 + (long)(tap_xorshift(&rng) % 8000));
        kill(c, SIGSTOP);
        int st;
        waitpid(c, &st, WUNTRACED);
        if (i % 2 == 0) {
            struct qmsg m = {2, "y"};
            double t0 = tap_now();
            int r1 = msgsnd(q, &m, sizeof m.text, IPC_NOWAIT);
            int e1 = errno;
            double t1 = tap_now();
            ssize_t r2 = msgrcv(q, &m, sizeof m.text, 2, IPC_NOWAIT);
            int e2 = errno;
            double t2 = tap_now();
            if ((r1 != 0 && e1 != EAGAIN) || (r2 < 0 && e2 != ENOMSG)) broken++;
            if (t1 - t0 > NOWAIT_MAX) slow_q++;
            if (t2 - t1 > NOWAIT_MAX) slow_q++;
            if (t1 - t0 > worst_q) worst_q = t1 - t0;
            if (t2 - t1 > worst_q) worst_q = t2 - t1;
            /* Timed: a receive of a type nobody sends, and a send. */
            char b[8];
            long ty;
            ptrdiff_t r3 = ripc_queue_recv(nq, 3, b, sizeof b, 0, 100, &ty);
            int e3 = errno;
            double t3 = tap_now();
            int r4 = ripc_queue_send(nq, 2, "t", 1, 100);
            int e4 = errno;
            double t4 = tap_now();
            if (r3 >= 0 || e3 != ETIMEDOUT || (r4 != 0 && e4 != ETIMEDOUT)) broken++;
            /* Late once: the same call again against the same stopped peer,
             * as the semaphores' part below does. A lateness of ours comes
             * back (the peer has not moved); a scheduling hiccup of a
             * loaded machine does not (one call took 876 ms beside a load
             * of 12, once in 48). */
            double dr = t3 - t2, ds = t4 - t3;
            if (dr > QTIMED_MAX) {
                double t5 = tap_now();
                ptrdiff_t r5 = ripc_queue_recv(nq, 3, b, sizeof b, 0, 100, &ty);
                int e5 = errno;
                double d5 = tap_now() - t5;
                diag("a 100 ms ripc_queue_recv took %.1f ms; again: %.1f ms", dr * 1e3, d5 * 1e3);
                if (r5 >= 0 || e5 != ETIMEDOUT) broken++;
                if (d5 > QTIMED_MAX) slow_qt++;
                if (d5 < dr) dr = d5;
            }
            if (ds > QTIMED_MAX) {
                double t5 = tap_now();
                int r5 = ripc_queue_send(nq, 2, "t", 1, 100);
                int e5 = errno;
                double d5 = tap_now() - t5;
                diag("a 100 ms ripc_queue_send took %.1f ms; again: %.1f ms", ds * 1e3, d5 * 1e3);
                if (r5 != 0 && e5 != ETIMEDOUT) broken++;
                if (d5 > QTIMED_MAX) slow_qt++;
                if (d5 < ds) ds = d5;
            }
            if (dr > worst_qt) worst_qt = dr;
            if (ds > worst_qt) worst_qt = ds;
        } else {
            struct sembuf v = {0, 1, IPC_NOWAIT}, p = {0, -1, IPC_NOWAIT};
            double t0 = tap_now();
            int r1 = semop(s, &v, 1);
            int e1 = errno;
            double t1 = tap_now();
            if (r1 != 0 && e1 != EAGAIN) broken++;
            if (r1 == 0) semop(s, &p, 1); /* put the value back */
            if (t1 - t0 > NOWAIT_MAX) slow_s++;
            if (t1 - t0 > worst_s) worst_s = t1 - t0;
            /* A 100 ms wait for zero (never zero while the peer holds or
             * not: the value is 1 or 0; ask for 2 to be taken). */
            struct sembuf p2 = {0, -2, 0};
            struct timespec to = {0, 100 * 1000000};
            double t2 = tap_now();
            int r3 = semtimedop(s, &p2, 1, &to);
            int e3 = errno;
            double t3 = tap_now();
            if (r3 == 0 || e3 != EAGAIN) broken++;
            if (t3 - t2 > 0.2 + nap_over()) {
                /* Late once: the same call again against the same stopped
                 * peer. A lateness of ours comes back (the peer has not
                 * moved); a scheduling hiccup of a loaded machine (the
                 * kernel backend's call took 400 ms once in 150 beside two
                 * busy loops) does not. */
                double t4 = tap_now();
                int r5 = semtimedop(s, &p2, 1, &to);
                int e5 = errno;
                double t5 = tap_now();
                diag("a 100 ms semtimedop took %.1f ms; again: %.1f ms", (t3 - t2) * 1e3, (t5 - t4) * 1e3);
                if (r5 == 0 || e5 != EAGAIN) broken++;
                if (t5 - t4 > 0.2 + nap_over()) slow_t++;
                if (t5 - t4 < t3 - t2) t3 = t2 + (t5 - t4);
            }
            if (t3 - t2 > worst_t) worst_t = t3 - t2;
        }
        kill(c, SIGKILL);
        kill(c, SIGCONT);
        waitpid(c, &st, 0);
        /* A peer killed mid-semop may have taken the value: reset it. */
        semctl(s, 0, SETVAL, 1);
        /* Drain what a killed queue peer left. */
        struct qmsg m;
        while (msgrcv(q, &m, sizeof m.text, 0, IPC_NOWAIT) >= 0) {
        }
    }
    ok(slow_q == 0, "queues: IPC_NOWAIT msgsnd/msgrcv with a peer stopped at random: %d of %d over %.0f ms (worst %.1f ms)",
       slow_q, TRIALS, NOWAIT_MAX * 1e3, worst_q * 1e3);
    ok(slow_qt == 0,
       "queues: a 100 ms ripc_queue_recv and ripc_queue_send with a peer stopped at random: %d of %d over %.0f ms (worst %.1f ms)",
       slow_qt, TRIALS, QTIMED_MAX * 1e3, worst_qt * 1e3);
    ok(slow_s == 0, "semaphores: IPC_NOWAIT semop with a peer stopped at random: %d of %d over %.0f ms (worst %.1f ms)",
       slow_s, TRIALS / 2, NOWAIT_MAX * 1e3, worst_s * 1e3);
    ok(slow_t == 0, "semaphores: a 100 ms semtimedop with a peer stopped at random: %d of %d over 200 ms + a nanosleep's lateness, twice in a row (worst %.1f ms)",
       slow_t, TRIALS / 2, worst_t * 1e3);
    ok(broken == 0, "every bounded call failed only with EAGAIN/ENOMSG (%d others)", broken);
    ok(msgctl(q, IPC_RMID, NULL) == 0 && semctl(s, 0, IPC_RMID) == 0, "removed");
    ripc_queue_close(nq);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Keeps the overrun `o` of a timed call's try `k` in `*over` (the smaller
 * of two tries); true when no other try is needed. A call late past the
 * worst bound (60 ms) is made once more against the same peer: a lateness
 * of ours comes back (the peer's traffic has not changed), a scheduling
 * hiccup of a loaded machine does not (one call in five went 72 ms over
 * with the median at 3 ms, at load 8, the test run at nice 5), as the
 * stopped-peer part does for its semtimedop. */
static int late_again(double *over, double o, int k) {
    if (k == 0 || o < *over) *over = o;
    if (k == 0 && o > 0.060) {
        diag("a 100 ms timed call %.1f ms over its deadline; again", o * 1e3);
        return 0;
    }
    return 1;
}

/* Five timed calls' overruns (seconds past the deadline, less a plain
 * nanosleep's at that moment): by the deadline + 20 ms in the median,
 * + 60 ms each. */
static void overrun_ok(double over[5]) {
    qsort(over, 5, sizeof over[0], cmp_double);
    ok(over[2] <= 0.020 && over[4] <= 0.060,
       "... by its deadline: overrun median %.1f ms (<= 20), worst %.1f ms (<= 60)", over[2] * 1e3, over[4] * 1e3);
}

static void timed_under_traffic(void) {
    ripc_queue *q = ripc_queue_open(NULL, IPC_PRIVATE, 0, IPC_CREAT | 0600);
    ok(q != NULL, "a native queue");
    if (!q) return;
    int id = ripc_queue_id(q);
    pid_t c = fork();
    if (c == 0) {
        /* Keep the receivers' wait word moving: type 2 in, type 2 out. */
        ripc_queue *p = ripc_queue_open_id(NULL, id);
        char b[8] = "z";
        long t;
        peer_start(30);
        if (!p) _exit(1);
        for (;;) {
            if (ripc_queue_send(p, 2, b, 1, -1) != 0) _exit(2);
            if (ripc_queue_recv(p, 2, b, sizeof b, 0, -1, &t) < 0) _exit(3);
        }
    }
    double over[5];
    int wrong = 0;
    char buf[8];
    long t;
    sleep_us(20000);
    for (int i = 0; i < 5; i++) {
        /* A call late past the worst bound is made again (late_again). */
        for (int k = 0; k < 2; k++) {
            double t0 = tap_now();
            ptrdiff_t r = ripc_queue_recv(q, 1, buf, sizeof buf, 0, 100, &t);
            int e = errno;
            double o = tap_now() - t0 - 0.1 - nap_over(); /* the peer still streaming */
            if (r >= 0 || e != ETIMEDOUT) wrong++;
            if (late_again(&over[i], o, k)) break;
        }
    }
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    ok(wrong == 0, "ripc_queue_recv(type 1, 100 ms) under a stream of type 2: ETIMEDOUT");
    overrun_ok(over);
    ok(ripc_queue_remove(q) == 0, "removed");
    ripc_queue_close(q);
}

/* A 100 ms semtimedop that cannot succeed (-2 on a value that is 0 or 1)
 * while a peer keeps that value moving (V, P: each V tries the sleeper,
 * under the set's lock, which the peer keeps busy). */
static void timed_sem_under_traffic(void) {
    int s = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    ok(s >= 0, "a set");
    if (s < 0) return;
    pid_t c = fork();
    if (c == 0) {
        struct sembuf v = {0, 1, 0}, p = {0, -1, 0};
        peer_start(30);
        for (;;) {
            if (semop(s, &v, 1) != 0) _exit(1);
            if (semop(s, &p, 1) != 0) _exit(2);
        }
    }
    double over[5];
    int wrong = 0;
    sleep_us(20000);
    for (int i = 0; i < 5; i++) {
        for (int k = 0; k < 2; k++) {
            struct sembuf p2 = {0, -2, 0};
            struct timespec to = {0, 100 * 1000000};
            double t0 = tap_now();
            int r = semtimedop(s, &p2, 1, &to);
            int e = errno;
            double o = tap_now() - t0 - 0.1 - nap_over(); /* the peer still moving the value */
            if (r == 0 || e != EAGAIN) wrong++;
            if (late_again(&over[i], o, k)) break;
        }
    }
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    ok(wrong == 0, "semtimedop(-2, 100 ms) while a peer keeps the value moving: EAGAIN");
    overrun_ok(over);
    ok(semctl(s, 0, IPC_RMID) == 0, "removed");
}

/* Maps the object file of `kind` with id `id` read-write. */
static unsigned char *map_object(const char *kind, int id, size_t len) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.%d", getenv("RIPC_DIR"), kind, id % 32768);
    int fd = open(path, O_RDWR);
    if (fd < 0) return NULL;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

/* A lock (src/sync/lock.rs: u32 word, u32 pad, u64 owner start) at `off`
 * now names init. */
static void wedge(unsigned char *base, size_t off) {
    uint32_t one = 1;
    uint64_t st = tap_start_time(1);
    memcpy(base + off, &one, sizeof one);
    memcpy(base + off + 8, &st, sizeof st);
}

/* Object header: 256 bytes; its lock at 40 (sem and shm use it). A
 * queue's own locks: senders' at 256 + 0, receivers' at 256 + 128. */
#define OBJ_LOCK 40
#define Q_SLOCK (256 + 0)
#define Q_RLOCK (256 + 128)

static void the_wedge(void) {
    if (!user_backend()) {
        ok(1, "# SKIP the wedge writes ripc's object files (kernel backend)");
        return;
    }
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    int s = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    int seg = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    unsigned char *qm = q >= 0 ? map_object("msg", q, 4096) : NULL;
    unsigned char *sm = s >= 0 ? map_object("sem", s, 4096) : NULL;
    unsigned char *mm = seg >= 0 ? map_object("shm", seg, 4096) : NULL;
    ok(qm && sm && mm && tap_start_time(1) != 0, "a queue, a set and a segment, their files mapped, init's start time read");
    if (!qm || !sm || !mm) return;
    wedge(qm, Q_SLOCK);
    wedge(qm, Q_RLOCK);
    wedge(sm, OBJ_LOCK);
    wedge(mm, OBJ_LOCK);
    pid_t c = fork();
    if (c == 0) {
        /* As a fresh process (no cached state), bounded by alarm. Its
         * lines reach the output before an _exit that fails the check. */
        alarm(20);
        setvbuf(stdout, NULL, _IOLBF, 0);
        struct qmsg m = {1, "w"};
        double t0 = tap_now();
        int r = msgsnd(q, &m, sizeof m.text, IPC_NOWAIT);
        int e = errno;
        double dt = tap_now() - t0;
        printf("# msgsnd(IPC_NOWAIT) on the wedged queue: %d errno %d in %.1f ms\n", r, e, dt * 1e3);
        if (r != 0 || dt > NOWAIT_MAX) _exit(1);
        t0 = tap_now();
        r = (int)msgrcv(q, &m, sizeof m.text, 0, IPC_NOWAIT);
        e = errno;
        dt = tap_now() - t0;
        printf("# msgrcv(IPC_NOWAIT) on the wedged queue: %d errno %d in %.1f ms\n", r, e, dt * 1e3);
        if (r != (int)sizeof m.text || dt > NOWAIT_MAX) _exit(2);
        struct sembuf p = {0, -1, IPC_NOWAIT};
        t0 = tap_now();
        r = semop(s, &p, 1);
        e = errno;
        dt = tap_now() - t0;
        printf("# semop(IPC_NOWAIT) on the wedged set: %d errno %d in %.1f ms\n", r, e, dt * 1e3);
        if (r == 0 || e != EAGAIN || dt > NOWAIT_MAX) _exit(3);
        struct timespec to = {0, 100 * 1000000};
        p.sem_flg = 0;
        t0 = tap_now();
        r = semtimedop(s, &p, 1, &to);
        e = errno;
        dt = tap_now() - t0;
        printf("# semtimedop(100 ms) on the wedged set: %d errno %d in %.1f ms\n", r, e, dt * 1e3);
        if (r == 0 || e != EAGAIN || dt > 0.2) _exit(4);
        struct msqid_ds ds;
        t0 = tap_now();
        r = msgctl(q, IPC_STAT, &ds);
        dt = tap_now() - t0;
        printf("# IPC_STAT of the wedged queue: %d in %.1f ms\n", r, dt * 1e3);
        if (r != 0 || dt > 2.0) _exit(5);
        t0 = tap_now();
        char *a = shmat(seg, NULL, 0);
        dt = tap_now() - t0;
        printf("# shmat of the wedged segment: %s in %.1f ms\n", a == (char *)-1 ? "failed" : "ok", dt * 1e3);
        if (a == (char *)-1 || dt > 2.0) _exit(6);
        a[0] = 'x';
        struct shmid_ds sd;
        t0 = tap_now();
        r = shmdt(a) == 0 ? shmctl(seg, IPC_STAT, &sd) : -1;
        dt = tap_now() - t0;
        if (r != 0 || dt > 4.0) _exit(7);
        _exit(0);
    }
    int st = -1;
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "a wedged lock (pid 1 and its start time): IPC_NOWAIT msgsnd and msgrcv performed, a P on 0 answers EAGAIN, a timed one by its deadline; IPC_STAT, shmat and shmdt answer (child status %d)", st);
    wedge(qm, Q_SLOCK); /* again: the child's calls took the locks over */
    /* Init does not map the queue's file, and holds no liveness mark in
     * the namespace (it is no member): the lock is nobody's and is taken
     * over, whether init's memory map can be read (root) or not (another
     * user, or root in a sandbox). */
    struct qmsg m = {1, "r"};
    double t0 = tap_now();
    unsigned left = alarm(10);
    int r = msgsnd(q, &m, sizeof m.text, 0);
    alarm(left);
    double dt = tap_now() - t0;
    ok(r == 0 && dt < 2.0, "an untimed msgsnd gets through the wedge in %.0f ms (init neither maps the file nor is a member)", dt * 1e3);
    /* The same as a second user, who may never read init's map. */
    struct msqid_ds qd;
    int shared = msgctl(q, IPC_STAT, &qd) == 0 && (qd.msg_perm.mode = 0666, msgctl(q, IPC_SET, &qd) == 0);
    wedge(qm, Q_SLOCK);
    fflush(stdout);
    pid_t u = fork();
    if (u == 0) {
        alarm(10);
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(126);
        struct qmsg um = {1, "u"};
        double u0 = tap_now();
        int ur = msgsnd(q, &um, sizeof um.text, 0);
        double ut = tap_now() - u0;
        printf("# uid 65534: untimed msgsnd through the wedge: %d in %.1f ms\n", ur, ut * 1e3);
        fflush(stdout);
        _exit(ur == 0 && ut < 2.0 ? 0 : 1);
    }
    int ust = -1;
    waitpid(u, &ust, 0);
    ok(shared && WIFEXITED(ust) && WEXITSTATUS(ust) == 0,
       "uid 65534 (who may not read init's map) gets an untimed msgsnd through the wedge (status %#x)", ust);
    wedge(qm, Q_RLOCK); /* and once more for the removal below */
    t0 = tap_now();
    int r1 = msgctl(q, IPC_RMID, NULL);
    int r2 = semctl(s, 0, IPC_RMID);
    int r3 = shmctl(seg, IPC_RMID, NULL);
    dt = tap_now() - t0;
    ok(r1 == 0 && r2 == 0 && r3 == 0 && dt < 6.0, "IPC_RMID removes the three wedged objects (%.0f ms)", dt * 1e3);
    struct msqid_ds gone;
    ok_errno(msgctl(q, IPC_STAT, &gone) == -1, EINVAL, "the queue is gone");
    munmap(qm, 4096);
    munmap(sm, 4096);
    munmap(mm, 4096);
}

int main(void) {
    tap_subtest("stopped peer", stop_and_measure);
    tap_subtest("timed receive under traffic", timed_under_traffic);
    tap_subtest("timed semop under traffic", timed_sem_under_traffic);
    tap_subtest("wedge", the_wedge);
    return done_testing();
}
