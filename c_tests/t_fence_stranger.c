/* t_fence_stranger.c — a second user beside a root process stopped
 * inside an object's lock (issue 13 item 1; docs/bounded-time.md,
 * "IPC_NOWAIT beside a stopped holder": a member that may not make the
 * object's copy), under both backends.
 *
 * A stopped lock holder is fenced and the object moved to a copy, which
 * must have the old file's owner, group and mode: only root or the
 * file's owner can make it, and in the sticky namespace directory only
 * they can rename the object's names. A stranger (uid 65534, a fresh
 * process: exec'd with no descriptor of the object) who shares a 0666
 * object with root moves it through the object's spare, which root made
 * at its creation (src/ns/spare.rs), and is owed what the kernel gives:
 *
 * Part 1, sets: TRIALS trials. A root peer loops 32-operation SEM_UNDO
 * semops (sem_peer.h) and is SIGSTOPped at a random moment, most often
 * inside the set's lock with semaphore 2 frozen. The stranger then makes
 * three SEM_UNDO V operations on semaphore 2:
 *  - IPC_NOWAIT: performed within NOWAIT_MAX;
 *  - timed, 200 ms: performed within half its timeout;
 *  - untimed: performed while the peer stays stopped (root waits
 *    UNTIMED_WAIT for it before it continues the peer).
 * (Before the spares, ripc answered EAGAIN, the timeout, and waited for
 * the peer in these: the test allowed it, and now fails on that
 * library.)
 * Then root continues or (one trial in three) kills the peer. Exact: every
 * semaphore is 0 once both have ended (the stranger's adjustments undone
 * at its exit, the peer's pairs completed or undone). On the user
 * backend, the stranger made no file in the namespace (no copy, no
 * temporary: it fills root's spare); there the peer is stopped again
 * (continued a moment first) until it holds the set's lock — every trial
 * meets the stranger's calls with it held: without that, the part proves
 * nothing.
 *
 * Part 2, queues: the same with a root peer looping msgsnd and msgrcv of
 * its own 64-byte messages (type 1; both locks held much of its time),
 * and the stranger's msgsnd of type 2 messages: IPC_NOWAIT (performed
 * within NOWAIT_MAX), then untimed; then the stranger takes its messages
 * back with untimed msgrcv (as many as it sent), and finds no more; its
 * untimed calls all performed while the peer stays stopped. On the user
 * backend the peer is
 * stopped again until it holds the senders' lock. Exact: once the peer
 * has ended and root has taken back a message the killed peer may have
 * left, the queue is empty.
 */
#include "ripc_sysv.h"
#include "tap.h"
#include "sem_peer.h"

#include <dirent.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TRIALS 12
#define NOWAIT_MAX 0.25 /* seconds an IPC_NOWAIT call (or a timed one past its deadline) may take */
#define TIMED 0.2       /* the timed call's timeout */
#define STRANGER_MAX 20 /* the stranger's alarm: a call hung */
#define UNTIMED_WAIT 1.0 /* seconds root keeps the peer stopped for the stranger's untimed calls */
#define NSEMS (SEM_PEER_FIRST + SEM_PEER_N)
#define TEXT 64

/* The stranger's exit status: failed checks (bits) and, beside them,
 * whether a call answered EAGAIN (the stop froze what it needed). */
enum {
    BAD_NOWAIT = 1,   /* the IPC_NOWAIT call: too slow, or an answer not allowed */
    BAD_TIMED = 2,    /* the timed call: past its deadline, or not allowed */
    BAD_UNTIMED = 4,  /* the untimed call failed */
    BAD_ACCOUNT = 8,  /* its messages not all taken back */
    SAW_EAGAIN = 16,  /* some call answered EAGAIN */
    /* What issue 13 asks beyond bounded time (the kernel's behaviour;
     * reported, checked on the kernel, TODO on the user backend until a
     * member that may not make the copy can move the object: see
     * docs/bounded-time.md, "A member that may not make the copy"): */
    NOT_PERFORMED = 32, /* the IPC_NOWAIT call was not performed */
    TIMED_SLOW = 64,    /* the timed call not performed within half its timeout */
};
/* The bits that report rather than fail (by themselves). */
#define INFO_BITS (SAW_EAGAIN | NOT_PERFORMED | TIMED_SLOW)

struct msg {
    long type;
    char text[TEXT];
};

/* One bounded call's verdict: ok when performed within `max` seconds;
 * reports an EAGAIN in *saw. */
static int verdict(int r, int err, double took, double max, int *saw) {
    if (r != 0 && err == EAGAIN) *saw = SAW_EAGAIN;
    return r == 0 && took <= max;
}

/* --- the stranger (uid 65534, exec'd by run_stranger) --- */

/* The stranger's end of the pipe to root (argv[4]): one byte once its
 * bounded calls are done, so that root continues the peer only then. */
static int ready_fd = -1;

static void bounded_calls_done(void) {
    if (ready_fd >= 0 && write(ready_fd, "b", 1) != 1) ready_fd = -1;
}

/* Then one more once its untimed calls are done: root keeps the peer
 * stopped for UNTIMED_WAIT seconds waiting for it. */
static void untimed_calls_done(void) {
    if (ready_fd >= 0 && write(ready_fd, "u", 1) != 1) ready_fd = -1;
}

/* "ok", or the error a call answered. */
static const char *outcome(int r, int err) {
    return r == 0 ? "ok" : strerror(err);
}

static int stranger_sem(int sid) {
    int bad = 0, saw = 0;
    struct sembuf v = {SEM_PEER_FIRST, 1, SEM_UNDO | IPC_NOWAIT};
    double t0 = tap_now();
    int r1 = semop(sid, &v, 1), e1 = errno;
    double nowait = tap_now() - t0;
    if (!verdict(r1, e1, nowait, NOWAIT_MAX, &saw)) bad |= BAD_NOWAIT;
    if (r1 != 0) bad |= NOT_PERFORMED;

    struct timespec to = {0, (long)(TIMED * 1e9)};
    v.sem_flg = SEM_UNDO;
    t0 = tap_now();
    int r2 = semtimedop(sid, &v, 1, &to), e2 = errno;
    double timed = tap_now() - t0;
    if (!verdict(r2, e2, timed, TIMED + NOWAIT_MAX, &saw)) bad |= BAD_TIMED;
    if (r2 != 0 || timed > TIMED / 2) bad |= TIMED_SLOW;
    bounded_calls_done();

    t0 = tap_now();
    int r3 = semop(sid, &v, 1), e3 = errno;
    double untimed = tap_now() - t0;
    if (r3 != 0) bad |= BAD_UNTIMED;
    untimed_calls_done();
    printf("# stranger: IPC_NOWAIT %s %.2f ms, timed %s %.2f ms, untimed %s %.2f ms\n",
           outcome(r1, e1), nowait * 1e3, outcome(r2, e2), timed * 1e3, outcome(r3, e3),
           untimed * 1e3);
    return bad | saw;
}

static int stranger_msg(int q) {
    int bad = 0, saw = 0;
    struct msg m = {2, {0}};
    double t0 = tap_now();
    int r1 = msgsnd(q, &m, TEXT, IPC_NOWAIT), e1 = errno;
    double nowait = tap_now() - t0;
    if (!verdict(r1, e1, nowait, NOWAIT_MAX, &saw)) bad |= BAD_NOWAIT;
    if (r1 != 0) bad |= NOT_PERFORMED;
    bounded_calls_done();
    t0 = tap_now();
    int r2 = msgsnd(q, &m, TEXT, 0), e2 = errno;
    double untimed = tap_now() - t0;
    if (r2 != 0) bad |= BAD_UNTIMED;
    /* Its messages taken back untimed (ripc: the peer may be stopped
     * inside the receivers' lock until root continues it), then none
     * more of its type. */
    int sent = (r1 == 0) + (r2 == 0), back = 0;
    while (back < sent && msgrcv(q, &m, TEXT, 2, 0) == TEXT) back++;
    if (back != sent || msgrcv(q, &m, TEXT, 2, IPC_NOWAIT) >= 0) bad |= BAD_ACCOUNT;
    untimed_calls_done();
    printf("# stranger: IPC_NOWAIT msgsnd %s %.2f ms, untimed %s %.2f ms, %d of %d taken back\n",
           outcome(r1, e1), nowait * 1e3, outcome(r2, e2), untimed * 1e3, back, sent);
    return bad | saw;
}

/* Starts this program as the stranger (`kind` "sem" or "msg", object
 * id): its pid; *ready the end of the pipe on which it says its bounded
 * calls are done (closed by the caller). */
static pid_t run_stranger(const char *kind, int id, int *ready) {
    char sid[16], wfd[16];
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) return -1;
    snprintf(sid, sizeof sid, "%d", id);
    snprintf(wfd, sizeof wfd, "%d", pfd[1]);
    char *argv[] = {"t_fence_stranger", "stranger", (char *)kind, sid, wfd, NULL};
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        fcntl(pfd[1], F_SETFD, 0); /* the stranger's end survives its exec */
        tap_execv_as(65534, 65534, NULL, argv);
    }
    close(pfd[1]);
    *ready = pfd[0];
    return c;
}

/* Names in RIPC_DIR owned by uid 65534 (user backend): a copy or a
 * temporary file the stranger made. -1 when it cannot be read. */
static int strangers_files(void) {
    const char *dir = getenv("RIPC_DIR");
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    struct stat st;
    while ((e = readdir(d)))
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid == 65534) {
            diag("the stranger's file in the namespace: %s", e->d_name);
            n++;
        }
    closedir(d);
    return n;
}

/* --- root's side --- */

static struct sem_peer *words; /* shared with the peers */
static uint64_t rng = 0x6a09e667f3bcc909ull;

/* Lock words in an object file's first page (src/sync/lock.rs: the
 * holder's pid in the low 30 bits): the header's (sets), a queue's
 * senders' lock. */
#define OBJ_LOCK 40
#define Q_SLOCK (256 + 0)
#define PID_BITS ((1u << 30) - 1)

/* User backend: stops the stopped peer `p` again (continued 0.5-3 ms
 * first) until it holds the lock at byte `off` of object `kind`.`id`,
 * at most 60 times, so that every trial meets the stranger's calls with
 * the lock held (a random stop lands in a queue's lock in about one
 * trial in six). Whether it does. */
static int stop_inside(pid_t p, const char *kind, int id, size_t off) {
    unsigned char *m = tap_map_object(kind, id);
    if (!m) return 0;
    int inside = 0;
    for (int k = 0; k < 60 && !inside; k++) {
        uint32_t w;
        memcpy(&w, m + off, sizeof w);
        inside = (w & PID_BITS) == (uint32_t)p;
        if (!inside) {
            kill(p, SIGCONT);
            tap_sleep_us(500 + (long)(tap_xorshift(&rng) % 2500));
            kill(p, SIGSTOP);
            int st;
            waitpid(p, &st, WUNTRACED);
        }
    }
    munmap(m, 4096);
    return inside;
}

/* Ends trial t: the peer continued or killed, the stranger reaped; its
 * exit status's bits (-1: it did not exit normally). Continues the peer
 * only once the stranger says its bounded calls are done (a byte on
 * `ready`, or its end: exited, or killed by its alarm), so that they meet
 * the peer stopped however slowly the stranger starts; then waits up to
 * UNTIMED_WAIT more for its second byte (its untimed calls done) before
 * it continues the peer: *untimed_stopped says whether they were all
 * performed while the peer stayed stopped (the kernel's behaviour). */
static int end_trial(pid_t peer, pid_t s, int ready, int kill_peer, int *peer_ok,
                     int *untimed_stopped) {
    char b = 0;
    while (read(ready, &b, 1) < 0 && errno == EINTR) {
    }
    *untimed_stopped = 0;
    if (b == 'b') {
        double t0 = tap_now();
        for (;;) {
            double left = UNTIMED_WAIT - (tap_now() - t0);
            if (left <= 0) break;
            struct pollfd pfd = {ready, POLLIN, 0};
            int r = poll(&pfd, 1, (int)(left * 1e3) + 1);
            if (r < 0 && errno == EINTR) continue;
            if (r > 0 && read(ready, &b, 1) == 1 && b == 'u') *untimed_stopped = 1;
            break;
        }
    }
    *peer_ok = sem_peer_end(words, peer, kill_peer, NULL);
    int st = tap_reap(s);
    close(ready); /* (after the stranger's end: its late byte finds a reader) */
    if (!WIFEXITED(st)) {
        diag("the stranger did not exit: status %#x", st);
        return -1;
    }
    return WEXITSTATUS(st);
}

/* What the trials of a part found. */
struct tally {
    int bad;      /* trials whose stranger's checks failed */
    int saw;      /* trials where a stranger's call answered EAGAIN */
    int inside;   /* trials where the peer was stopped holding the lock */
    int peer_bad; /* trials whose peer did not end as it should */
    int inexact;  /* trials whose values were off */
    int not_performed;   /* trials whose IPC_NOWAIT call was not performed */
    int timed_slow;      /* trials whose timed call was not performed within half its timeout */
    int untimed_waited;  /* trials whose untimed calls were not all done while the peer stayed stopped */
};

/* One trial's meeting: the stopped peer `p` stopped again until it holds
 * the lock at byte `off` of object `kind`.`id` (user backend), the
 * stranger run beside it, the peer continued or killed: into *n. */
static void meet_stranger(struct tally *n, int t, pid_t p, const char *kind, int id, size_t off) {
    if (!backend_is_kernel()) n->inside += stop_inside(p, kind, id, off);
    int ready = -1;
    pid_t s = run_stranger(kind, id, &ready);
    int peer_ok = 0;
    int res = -1;
    int untimed_stopped = 0;
    if (s > 0)
        res = end_trial(p, s, ready, t % 3 == 2, &peer_ok, &untimed_stopped);
    else
        peer_ok = sem_peer_end(words, p, 1, NULL); /* no stranger: the trial failed */
    n->peer_bad += !peer_ok;
    if (res < 0 || (res & ~INFO_BITS)) {
        n->bad++;
        diag("trial %d: the stranger's checks failed (status %d)", t, res);
    }
    n->saw += res > 0 && (res & SAW_EAGAIN);
    n->not_performed += res < 0 || (res & NOT_PERFORMED);
    n->timed_slow += res < 0 || (res & TIMED_SLOW);
    n->untimed_waited += !untimed_stopped;
}

/* A check of what issue 13 asks beyond bounded time (the kernel's
 * behaviour), on both backends: since the spares (src/ns/spare.rs), a
 * member that may not make the object's copy moves it through the spare
 * root made. */
static void target(int pass, const char *what, const char *check, int n_off) {
    ok(pass, "%s: %s (%d of %d trials not)", what, check, n_off, TRIALS);
}

static void report(const char *what, const struct tally *n) {
    ok(n->bad == 0, "%s: the stranger's calls performed in bounded time (%d of %d trials not)",
       what, n->bad, TRIALS);
    ok(n->peer_bad == 0, "%s: the peer kept working when continued, died when killed (%d not)",
       what, n->peer_bad);
    ok(n->inexact == 0, "%s: values exact once both ended (%d trials off)", what, n->inexact);
    target(n->not_performed == 0, what, "the stranger's IPC_NOWAIT call performed beside the stopped holder",
           n->not_performed);
    if (strcmp(what, "sets") == 0)
        target(n->timed_slow == 0, what, "its timed call performed within half its timeout", n->timed_slow);
    target(n->untimed_waited == 0, what, "its untimed calls performed while the peer stayed stopped",
           n->untimed_waited);
    if (backend_is_kernel()) {
        ok(n->saw == 0, "%s: the kernel performed every call (%d trials with EAGAIN)", what, n->saw);
    } else {
        /* (Every trial met the holder: without that, the part proves
         * nothing.) */
        ok(n->inside == TRIALS && n->saw == 0,
           "%s: the peer stopped inside the lock in %d of %d trials; the stranger's calls answered "
           "EAGAIN in %d",
           what, n->inside, TRIALS, n->saw);
        ok(strangers_files() == 0, "%s: the stranger made no file in the namespace", what);
    }
}

static void sets(void) {
    int sid = semget(IPC_PRIVATE, NSEMS, IPC_CREAT | 0666);
    if (!ok(sid >= 0, "a 0666 set of %d semaphores", NSEMS)) return;
    struct sembuf w[2] = {{0, 1, 0}, {0, -1, 0}};
    ok(semop(sid, &w[0], 1) == 0 && semop(sid, &w[1], 1) == 0, "warm-up");
    struct tally n = {0};
    for (int t = 0; t < TRIALS; t++) {
        pid_t p = sem_peer_stopped(words, sid, &rng, 10000);
        if (p < 0) {
            ok(0, "fork");
            break;
        }
        meet_stranger(&n, t, p, "sem", sid, OBJ_LOCK);
        unsigned short vals[NSEMS];
        int off = semctl(sid, 0, GETALL, vals) != 0;
        for (int i = 0; i < NSEMS; i++) off |= vals[i] != 0;
        if (off) diag("trial %d: semaphore 2 is %u (all must be 0)", t, vals[SEM_PEER_FIRST]);
        n.inexact += off;
    }
    report("sets", &n);
    ok(semctl(sid, 0, IPC_RMID) == 0, "set removed");
}

/* The queue's peer: its own type 1 messages sent and taken back. */
static void queue_peer(struct sem_peer *w, int q) {
    tap_peer_start(100);
    struct msg m = {1, {0}};
    while (!w->stop) {
        if (msgsnd(q, &m, TEXT, 0) != 0 || msgrcv(q, &m, TEXT, 1, 0) != TEXT) {
            if (errno == EINTR) continue;
            fprintf(stderr, "# queue peer: %s\n", strerror(errno));
            _exit(1);
        }
        w->rounds++;
    }
    _exit(0);
}

static void queues(void) {
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0666);
    if (!ok(q >= 0, "a 0666 queue")) return;
    struct tally n = {0};
    for (int t = 0; t < TRIALS; t++) {
        pid_t p = peer_stopped(words, queue_peer, q, &rng, 10000);
        if (p < 0) {
            ok(0, "fork");
            break;
        }
        meet_stranger(&n, t, p, "msg", q, Q_SLOCK);
        /* A peer killed between its send and its receive left one. */
        struct msg m;
        int left = 0;
        while (msgrcv(q, &m, TEXT, 1, IPC_NOWAIT) == TEXT) left++;
        struct msqid_ds ds;
        int off = msgctl(q, IPC_STAT, &ds) != 0 || ds.msg_qnum != 0 || left > 1;
        if (off) diag("trial %d: %d of the peer's messages left, then %lu in the queue", t, left,
                      (unsigned long)ds.msg_qnum);
        n.inexact += off;
    }
    report("queues", &n);
    ok(msgctl(q, IPC_RMID, NULL) == 0, "queue removed");
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "stranger") == 0) {
        alarm(STRANGER_MAX);
        int id = atoi(argv[3]);
        ready_fd = atoi(argv[4]);
        return strcmp(argv[2], "sem") == 0 ? stranger_sem(id) : stranger_msg(id);
    }
    TAP_SKIP_UNLESS_ROOT();
    if (!(words = tap_shared_map(sizeof *words))) return 1;
    sets();
    queues();
    return done_testing();
}
