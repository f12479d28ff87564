/* t_handler_malloc.c — a signal handler's calls while its own thread is
 * inside malloc() or free() are performed, and the heap survives them,
 * under both backends (the kernel the oracle: its calls allocate nothing
 * in the caller).
 *
 * The pattern is the tutorials' cleanup handler, made frequent: a program
 * busy with its own work (here: malloc, realloc, calloc and free of
 * blocks of random sizes, each filled with a pattern that is checked
 * before it is freed) and a handler that calls the library. A SIGPROF
 * timer (the child's CPU time, 50-450 us apart at random, re-armed by the
 * handler; the loop runs 2 s and until the handler ran 300 times, 10 s at
 * most) interrupts the loop anywhere — most often inside the C
 * library's allocator, which is not reentrant. The handler, in turn:
 * looks a queue, a set and a segment up by key and reads their state
 * (IPC_STAT, GETVAL); creates and removes a private queue, a set of two
 * semaphores, and a segment it attaches, writes and detaches.
 *
 * Before (main at 405ae56): the library's own allocations (an object's
 * state, its file names, a look-up's lists) went to malloc — a get by key
 * made ~7 of them, an IPC_RMID 4-6 — so a handler that landed inside the
 * program's malloc corrupted the heap (glibc's per-thread cache is not
 * reentrant). Now libripc's Rust code allocates from an allocator of its
 * own that is async-signal-safe (src/os/alloc.rs; docs/bounded-time.md,
 * "Allocation in a signal handler"). Every handler call must succeed, no
 * block's pattern may change, the loop must end by itself (a child
 * bounded at 30 s, its stack printed if it hangs), and nothing is left.
 *
 * Second part: the same handler (a look-up and state of the queue, a set
 * created and removed) beside three threads looping on malloc/free and
 * msgsnd/msgrcv while the main thread forks 200 children that each create
 * and remove a queue. A handler that ran on the forking thread between
 * the library's fork handlers (which hold every namespace's object cache)
 * waited for that thread's own hold, and the other threads behind it:
 * hung in 3 of 3 runs before (main at 7cfff75; src/ns/cache.rs,
 * ForkDepth).
 */
#include "ripc_sysv.h"
#include "tap.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RUN_SECS 2.0 /* at least, and until the handler ran MIN_CALLS times */
#define MIN_CALLS 300
#define RUN_MAX 10.0
#define CHILD_MAX 30.0
#define SLOTS 64

struct report {
    long rounds, signals, calls, bad, corrupt;
    int bad_case, bad_errno;
};

static struct report *rep;
static key_t qkey, skey, gkey;
static int qid, sid, gid;
static uint64_t seed = 0x2545f4914f6cdd1dULL;

static void arm(long us) {
    struct itimerval it = {{0, 0}, {0, us}};
    setitimer(ITIMER_PROF, &it, NULL);
}

static void failed(int which) {
    if (!rep->bad) {
        rep->bad_case = which;
        rep->bad_errno = errno;
    }
    rep->bad++;
}

/* One of the handler's calls (also made once outside it, first). */
static void call(int which) {
    switch (which) {
    case 0: {
        struct msqid_ds ds;
        int q = msgget(qkey, 0);
        if (q != qid || msgctl(q, IPC_STAT, &ds) != 0) failed(which);
        break;
    }
    case 1: {
        int s = semget(skey, 1, 0);
        if (s != sid || semctl(s, 0, GETVAL) != 1) failed(which);
        break;
    }
    case 2: {
        struct shmid_ds ds;
        int g = shmget(gkey, 0, 0);
        if (g != gid || shmctl(g, IPC_STAT, &ds) != 0) failed(which);
        break;
    }
    case 3: {
        int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (q < 0 || msgctl(q, IPC_RMID, NULL) != 0) failed(which);
        break;
    }
    case 4: {
        int s = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
        if (s < 0 || semctl(s, 0, IPC_RMID) != 0) failed(which);
        break;
    }
    default: {
        int g = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
        if (g < 0) {
            failed(which);
            break;
        }
        char *p = shmat(g, NULL, 0);
        if (p == (char *)-1) {
            failed(which);
        } else {
            p[0] = 1;
            if (shmdt(p) != 0) failed(which);
        }
        if (shmctl(g, IPC_RMID, NULL) != 0) failed(which);
        break;
    }
    }
}

static void handler(int sig) {
    (void)sig;
    int e = errno;
    call((int)(rep->signals++ % 6));
    rep->calls++;
    arm(50 + (long)(tap_xorshift(&seed) % 400));
    errno = e;
}

static unsigned char pattern(int slot, size_t n) { return (unsigned char)(slot * 31 + n); }

static int intact(const unsigned char *p, int slot, size_t n) {
    unsigned char v = pattern(slot, n);
    for (size_t i = 0; i < n; i += 7)
        if (p[i] != v) return 0;
    return p[n - 1] == v;
}

/* The child: the program's own allocations, interrupted by the handler. */
static void loop(void) {
    static unsigned char *blk[SLOTS];
    static size_t len[SLOTS];
    for (int w = 0; w < 6; w++) call(w); /* first uses outside the handler */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPROF, &sa, NULL);
    arm(200);
    double t0 = tap_now();
    for (long r = 0;; r++) {
        if ((r & 255) == 0) {
            double t = tap_now() - t0;
            if ((t > RUN_SECS && rep->calls >= MIN_CALLS) || t > RUN_MAX) break;
        }
        int i = (int)(tap_xorshift(&seed) % SLOTS);
        size_t n = 1 + tap_xorshift(&seed) % ((r & 15) == 0 ? 4096 : 256);
        unsigned char *p;
        if (blk[i] && !intact(blk[i], i, len[i])) rep->corrupt++;
        switch (r % 3) {
        case 0: /* free, then a new block */
            free(blk[i]);
            p = malloc(n);
            break;
        case 1: /* grow or shrink in place or move */
            p = realloc(blk[i], n);
            if (!p) free(blk[i]);
            break;
        default:
            free(blk[i]);
            p = calloc(1, n);
            if (p && p[n - 1] != 0) rep->corrupt++;
            break;
        }
        blk[i] = p;
        len[i] = n;
        if (p) memset(p, pattern(i, n), n);
        rep->rounds++;
    }
    arm(0);
    for (int i = 0; i < SLOTS; i++) {
        if (blk[i] && !intact(blk[i], i, len[i])) rep->corrupt++;
        free(blk[i]);
    }
}

static volatile int stop_threads;

static void fork_handler(int sig) {
    (void)sig;
    int e = errno;
    call((int)(rep->signals++ % 2) * 4); /* 0: the queue by key; 4: a set made and removed */
    rep->calls++;
    errno = e;
}

static void *fork_worker(void *arg) {
    (void)arg;
    struct msgbuf1 {
        long mtype;
        char text[16];
    } m = {1, {0}};
    uint64_t st = (uint64_t)(uintptr_t)&m;
    while (!stop_threads) {
        char *p = malloc(1 + tap_xorshift(&st) % 300);
        if (p) p[0] = 1;
        free(p);
        if (msgsnd(qid, &m, sizeof m.text, IPC_NOWAIT) == 0) msgrcv(qid, &m, sizeof m.text, 0, IPC_NOWAIT);
    }
    return NULL;
}

/* The child of the second part: threads, forks and the handler. */
static void fork_loop(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fork_handler;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPROF, &sa, NULL);
    struct itimerval it = {{0, 300}, {0, 300}};
    setitimer(ITIMER_PROF, &it, NULL);
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, fork_worker, NULL);
    for (int i = 0; i < 200; i++) {
        pid_t c = fork();
        if (c == 0) {
            int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
            _exit(q < 0 || msgctl(q, IPC_RMID, NULL) != 0 ? 1 : 0);
        }
        int st = 0;
        waitpid(c, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) rep->corrupt++;
    }
    stop_threads = 1;
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    arm(0);
}

int main(void) {
    rep = tap_shared_map(sizeof *rep);
    if (!rep) {
        printf("1..0 # SKIP no shared mapping\n");
        return 0;
    }
    pid_t me = getpid();
    qkey = (key_t)(0x4d000000 | (me & 0xffff) << 4 | 1);
    skey = qkey + 1;
    gkey = qkey + 2;
    qid = msgget(qkey, IPC_CREAT | IPC_EXCL | 0600);
    sid = semget(skey, 1, IPC_CREAT | IPC_EXCL | 0600);
    gid = shmget(gkey, 4096, IPC_CREAT | IPC_EXCL | 0600);
    if (!ok(qid >= 0 && sid >= 0 && gid >= 0, "a queue, a set and a segment by key")) return done_testing();
    ok(semctl(sid, 0, SETVAL, 1) == 0, "SETVAL 1");

    memset(rep, 0, sizeof *rep);
    int rc = tap_run_bounded(loop, CHILD_MAX, "handler_malloc");
    ok(rc == 0, "the loop ended by itself (%s)", rc == -1 ? "hung" : rc ? "crashed" : "ok");
    diag("%ld rounds of malloc/realloc/calloc/free, %ld handler runs", rep->rounds, rep->signals);
    ok(rep->calls >= 100, "the handler ran often enough to land inside the allocator (%ld calls)", rep->calls);
    ok(rep->bad == 0, "every handler call succeeded (%ld failed; the first: case %d, %s)", rep->bad, rep->bad_case,
       strerror(rep->bad_errno));
    ok_eq(rep->corrupt, 0, "no block of the program's heap changed under it");

    memset(rep, 0, sizeof *rep);
    rc = tap_run_bounded(fork_loop, CHILD_MAX, "handler_fork");
    ok(rc == 0, "threads, forks and the handler: the loop ended by itself (%s)",
       rc == -1 ? "hung" : rc ? "crashed" : "ok");
    diag("%ld handler runs beside 3 threads and 200 forks", rep->signals);
    ok(rep->bad == 0, "threads, forks and the handler: every handler call succeeded (%ld failed; the first: case %d, %s)",
       rep->bad, rep->bad_case, strerror(rep->bad_errno));
    ok_eq(rep->corrupt, 0, "every forked child created and removed its queue");

    ok(msgctl(qid, IPC_RMID, NULL) == 0 && semctl(sid, 0, IPC_RMID) == 0 && shmctl(gid, IPC_RMID, NULL) == 0,
       "the three objects removed");
    if (!backend_is_kernel()) {
        const char *dir = getenv("RIPC_DIR");
        if (dir) ok_eq(tap_count_names(dir, "", 1), 0, "no object file left in the namespace");
    }
    return done_testing();
}
