/* t_cancel.c — pthread_cancel of a thread in a ripc call behaves as on
 * the kernel with glibc (man 7 pthreads, "Cancellation points"), under
 * both backends (docs/pipes-signals.md, "pthread_cancel").
 *
 * 1. Cancelled while blocked: a thread blocked in each call that is a
 *    cancellation point — ripc_pipe_read (empty pipe), ripc_pipe_write
 *    (full pipe), ripc_pipe_read_exact, ripc_fifo_open (no writer),
 *    ripc_pipe_read on a FIFO, msgrcv and msgsnd (full queue) through the
 *    drop-in, ripc_queue_recv and ripc_queue_send (untimed and timed),
 *    ripc_signal_wait — is cancelled: its cleanup handler runs once, the
 *    call does not return, pthread_join gives PTHREAD_CANCELED, the
 *    process lives on, and the object works afterwards (the queue's
 *    counts are exact, a message sent next is received by this thread).
 *    Before: ripc_pipe_read aborted the process ("FATAL: exception not
 *    rethrown"), msgrcv/msgsnd were never cancelled (join timed out).
 * 2. Cancellation disabled: a thread blocked in msgrcv or ripc_pipe_read
 *    with PTHREAD_CANCEL_DISABLE is not interrupted by pthread_cancel; it
 *    gets the message/bytes sent afterwards, then is cancelled at its
 *    next pthread_testcancel once it enables cancellation again.
 * 3. Pending at entry: a cancellation pending when msgrcv, msgsnd,
 *    ripc_pipe_read or ripc_queue_recv is called acts there even though
 *    the call would not block (a message, bytes, room there), as glibc's
 *    calls do, and the message or bytes stay where they were. The pipe
 *    calls at the edges (0 bytes, a closed end, a bad buffer, room for a
 *    write) act on it too, as glibc's read/write do, in a process with two
 *    threads and in one with a single thread that cancelled itself.
 * 4. Not cancellation points (glibc's semop is none): a thread blocked in
 *    semop is not cancelled; it completes when the semaphore is posted
 *    (before: its sleep's periodic sweep opened a file, a cancellation
 *    point of glibc's, and the process aborted), and its cancellation
 *    acts at its next cancellation point. So do semget, semctl, msgget,
 *    msgctl, shm*, ripc_pipe_new/free called with a cancellation pending.
 *
 * Each part runs in a subtest (a forked child: an abort fails that part
 * only); every wait is bounded (a join waits 10 s at most).
 */
#define TAP_SUBTEST_SECONDS 60
#include <ripc.h>

#include "ripc_sysv.h"
#include "tap.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/single_threaded.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define JOIN_SECONDS 10

static atomic_int cleanups; /* cleanup handlers run */
static atomic_int returned; /* the call came back (not cancelled) */
static atomic_int tid;      /* the thread's id, once it runs */
static atomic_int go;       /* the pending-at-entry thread may call */
static atomic_int disabled; /* it has disabled cancellation */

struct job {
    long (*call)(void *);
    void *arg;
    int disable;   /* PTHREAD_CANCEL_DISABLE around the call */
    int pending;   /* wait for the cancellation before calling */
    long ret;
    int err;
};

static void count_cleanup(void *a) {
    (void)a;
    atomic_fetch_add(&cleanups, 1);
}

static void *runner(void *p) {
    struct job *j = p;
    int old;
    pthread_cleanup_push(count_cleanup, NULL);
    if (j->disable || j->pending) pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    atomic_store(&disabled, 1);
    atomic_store(&tid, (int)syscall(SYS_gettid));
    if (j->pending) {
        /* The cancellation is pending now; enabling it does not act
         * (deferred): the call below is the first cancellation point. */
        for (int i = 0; i < 10000 && !atomic_load(&go); i++) usleep(1000);
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
    }
    j->ret = j->call(j->arg);
    j->err = errno;
    atomic_store(&returned, 1);
    if (j->disable) {
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
        pthread_testcancel();
    }
    pthread_cleanup_pop(0);
    return NULL;
}

/* The thread's state letter in /proc (S: asleep), '?' when unknown. */
static char state_of(int t) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", t);
    return tap_stat_state(path);
}

/* Waits (at most 10 s) until the thread has slept for 50 ms on end. */
static int asleep(void) {
    int t = 0;
    for (int i = 0; i < 10000 && !(t = atomic_load(&tid)); i++) usleep(1000);
    if (!t) return 0;
    int quiet = 0;
    for (int i = 0; i < 2000; i++) {
        quiet = state_of(t) == 'S' ? quiet + 1 : 0;
        if (quiet == 10) return 1;
        usleep(5000);
    }
    return 0;
}

static int joined(pthread_t th, void **res) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += JOIN_SECONDS;
    return pthread_timedjoin_np(th, res, &ts) == 0;
}

static void start(pthread_t *th, struct job *j) {
    atomic_store(&cleanups, 0);
    atomic_store(&returned, 0);
    atomic_store(&tid, 0);
    atomic_store(&go, 0);
    atomic_store(&disabled, 0);
    if (pthread_create(th, NULL, runner, j) != 0) {
        ok(0, "pthread_create: %s", strerror(errno));
        _exit(1);
    }
}

/* Part 1: the thread blocks in j's call and is cancelled there. Returns
 * 1 when it was cancelled as on the kernel. After a failed join the
 * thread is still in its call: `unblock` (may be NULL) gets it out so
 * that the caller can clean up. */
static int cancel_blocked(const char *what, struct job *j, void (*unblock)(void)) {
    pthread_t th;
    void *res = NULL;
    start(&th, j);
    ok(asleep(), "%s: the thread sleeps in its call", what);
    pthread_cancel(th);
    int in_time = joined(th, &res);
    ok(in_time, "%s: pthread_join returns within %d s of pthread_cancel", what, JOIN_SECONDS);
    if (!in_time) {
        if (unblock) unblock();
        joined(th, &res);
    }
    ok(res == PTHREAD_CANCELED, "%s: the thread was cancelled (PTHREAD_CANCELED)", what);
    ok_eq(atomic_load(&cleanups), 1, "%s: its cleanup handler ran once", what);
    ok(!atomic_load(&returned), "%s: the call did not return", what);
    return in_time && res == PTHREAD_CANCELED && atomic_load(&cleanups) == 1;
}

/* Part 3: a cancellation pending when the thread calls j's call (which
 * would not block): cancelled there, cleanup handler once, no return.
 * Returns the join's result (NULL when it did not end). */
static void *cancel_pending(struct job *j) {
    pthread_t th;
    void *res = NULL;
    j->pending = 1;
    start(&th, j);
    for (int i = 0; i < 10000 && !atomic_load(&disabled); i++) usleep(1000);
    pthread_cancel(th);
    atomic_store(&go, 1);
    if (!joined(th, &res)) res = NULL;
    j->pending = 0;
    if (atomic_load(&cleanups) != 1 || atomic_load(&returned)) return NULL;
    return res;
}

/* ---- pipes and FIFOs ---- */

static struct ripc_pipe *pp;
static char pbuf[1 << 16];

static long pipe_read(void *a) {
    (void)a;
    return ripc_pipe_read(pp, pbuf, 16);
}

static long pipe_read_exact(void *a) {
    (void)a;
    return ripc_pipe_read_exact(pp, pbuf, 16);
}

static long pipe_write(void *a) {
    (void)a;
    return ripc_pipe_write(pp, pbuf, 4096);
}

static void unblock_pipe(void) {
    ripc_pipe_write(pp, "0123456789abcdef", 16);
}

static void drain_pipe(void) {
    ripc_pipe_set_nonblocking(pp, RIPC_PIPE_READ, 1);
    while (ripc_pipe_read(pp, pbuf, sizeof pbuf) > 0) {
    }
    ripc_pipe_set_nonblocking(pp, RIPC_PIPE_READ, 0);
}

/* The pipe is usable after the cancellation: what is written is read. */
static void pipe_round_trip(const char *what) {
    char b[8] = {0};
    ok_eq(ripc_pipe_write(pp, "after", 5), 5, "%s: a write afterwards", what);
    ok(ripc_pipe_read(pp, b, sizeof b) == 5 && memcmp(b, "after", 5) == 0,
       "%s: is read afterwards", what);
}

static void part_pipes(void) {
    struct job j = {0};
    pp = ripc_pipe_new(0);
    if (!ok(pp != NULL, "ripc_pipe_new")) return;

    j.call = pipe_read;
    cancel_blocked("ripc_pipe_read (empty pipe)", &j, unblock_pipe);
    pipe_round_trip("ripc_pipe_read");

    j.call = pipe_read_exact;
    cancel_blocked("ripc_pipe_read_exact (empty pipe)", &j, unblock_pipe);
    drain_pipe();
    pipe_round_trip("ripc_pipe_read_exact");

    /* Fill the pipe, then a blocking write waits for room. */
    ripc_pipe_set_nonblocking(pp, RIPC_PIPE_WRITE, 1);
    long filled = 0, n;
    while ((n = ripc_pipe_write(pp, pbuf, 4096)) > 0) filled += n;
    ripc_pipe_set_nonblocking(pp, RIPC_PIPE_WRITE, 0);
    ok(filled > 0 && errno == EAGAIN, "the pipe is full (%ld bytes)", filled);
    j.call = pipe_write;
    cancel_blocked("ripc_pipe_write (full pipe)", &j, drain_pipe);
    ok_eq(ripc_pipe_available(pp), filled, "ripc_pipe_write: nothing of the cancelled write went in");
    drain_pipe();
    pipe_round_trip("ripc_pipe_write");
    ok_eq(ripc_pipe_free(pp), 0, "ripc_pipe_free");
}

static char fifo_path[256];

static long fifo_open_read(void *a) {
    (void)a;
    struct ripc_pipe *r = ripc_fifo_open(fifo_path, RIPC_PIPE_READ, 0, -1);
    if (r) ripc_pipe_free(r);
    return r ? 0 : -1;
}

static void unblock_fifo(void) {
    struct ripc_pipe *w = ripc_fifo_open(fifo_path, RIPC_PIPE_WRITE, RIPC_PIPE_NONBLOCK, 0);
    if (w) ripc_pipe_free(w);
}

static void part_fifo(void) {
    struct job j = {0};
    snprintf(fifo_path, sizeof fifo_path, "%s/t_cancel.fifo", getenv("RIPC_DIR") ? getenv("RIPC_DIR") : "/tmp");
    unlink(fifo_path);
    if (!ok(ripc_fifo_create(fifo_path, 0600, 0) == 0, "ripc_fifo_create")) return;

    j.call = fifo_open_read;
    cancel_blocked("ripc_fifo_open (reader, no writer)", &j, unblock_fifo);
    /* No reader was left behind: a non-blocking writer finds none. */
    struct ripc_pipe *w = ripc_fifo_open(fifo_path, RIPC_PIPE_WRITE, RIPC_PIPE_NONBLOCK, 0);
    ok(w == NULL && errno == ENXIO, "ripc_fifo_open: the cancelled open left no reader (ENXIO)");
    if (w) ripc_pipe_free(w);

    /* A read on a FIFO: a reader and a writer, nothing written. */
    struct ripc_pipe *r = ripc_fifo_open(fifo_path, RIPC_PIPE_READ, RIPC_PIPE_NONBLOCK, 0);
    w = ripc_fifo_open(fifo_path, RIPC_PIPE_WRITE, 0, 5000);
    if (ok(r && w, "a FIFO's reader and writer")) {
        ripc_pipe_set_nonblocking(r, RIPC_PIPE_READ, 0);
        pp = r;
        j.call = pipe_read;
        cancel_blocked("ripc_pipe_read (FIFO)", &j, NULL);
        char b[4] = {0};
        ok(ripc_pipe_write(w, "ok", 2) == 2 && ripc_pipe_read(r, b, 4) == 2,
           "ripc_pipe_read (FIFO): the FIFO works afterwards");
    }
    if (r) ripc_pipe_free(r);
    if (w) ripc_pipe_free(w);
    unlink(fifo_path);
}

/* ---- message queues ---- */

static int qid;
static struct {
    long mtype;
    char mtext[64];
} qmsg;

static long do_msgrcv(void *a) {
    (void)a;
    return msgrcv(qid, &qmsg, sizeof qmsg.mtext, 0, 0);
}

static long do_msgsnd(void *a) {
    (void)a;
    struct {
        long mtype;
        char mtext[64];
    } m = {7, "blocked"};
    return msgsnd(qid, &m, 64, 0);
}

static void send1(long type) {
    struct {
        long mtype;
        char mtext[64];
    } m = {type, "x"};
    msgsnd(qid, &m, 64, IPC_NOWAIT);
}

static void unblock_queue(void) {
    send1(1);
}

static void drain_queue(void) {
    struct {
        long mtype;
        char mtext[64];
    } m;
    while (msgrcv(qid, &m, 64, 0, IPC_NOWAIT) >= 0) {
    }
}

static void qcounts(long *n, long *bytes) {
    struct msqid_ds ds;
    memset(&ds, 0, sizeof ds);
    msgctl(qid, IPC_STAT, &ds);
    *n = (long)ds.msg_qnum;
    *bytes = (long)ds.__msg_cbytes;
}

/* The queue works afterwards: a receiver thread gets what is sent (no
 * sleeper or reservation of the cancelled thread's takes it or blocks). */
static void queue_round_trip(const char *what) {
    struct job j = {0};
    pthread_t th;
    void *res = NULL;
    j.call = do_msgrcv;
    start(&th, &j);
    ok(asleep(), "%s: a new receiver sleeps", what);
    send1(3);
    ok(joined(th, &res) && j.ret == 64 && qmsg.mtype == 3, "%s: and gets the next message", what);
    long n, b;
    qcounts(&n, &b);
    ok(n == 0 && b == 0, "%s: the queue is empty again (%ld messages, %ld bytes)", what, n, b);
}

static void part_msg(void) {
    struct job j = {0};
    qid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (!ok(qid >= 0, "msgget")) return;

    j.call = do_msgrcv;
    cancel_blocked("msgrcv (empty queue)", &j, unblock_queue);
    drain_queue();
    queue_round_trip("msgrcv");

    /* A queue that holds two messages, full. */
    struct msqid_ds ds;
    msgctl(qid, IPC_STAT, &ds);
    ds.msg_qbytes = 128;
    ok(msgctl(qid, IPC_SET, &ds) == 0, "msg_qbytes = 128");
    send1(1);
    send1(2);
    long n, b;
    qcounts(&n, &b);
    ok(n == 2 && b == 128, "the queue is full");
    j.call = do_msgsnd;
    cancel_blocked("msgsnd (full queue)", &j, drain_queue);
    qcounts(&n, &b);
    ok(n == 2 && b == 128, "msgsnd: the cancelled message is not in the queue (%ld, %ld)", n, b);
    drain_queue();
    queue_round_trip("msgsnd");

    /* Cancellation disabled: not interrupted, gets the message. */
    j.call = do_msgrcv;
    j.disable = 1;
    pthread_t th;
    void *res = NULL;
    start(&th, &j);
    ok(asleep(), "msgrcv, cancellation disabled: asleep");
    pthread_cancel(th);
    usleep(200000);
    ok(!atomic_load(&returned), "msgrcv, cancellation disabled: still waiting 200 ms after pthread_cancel");
    send1(5);
    ok(joined(th, &res), "msgrcv, cancellation disabled: joined");
    ok(j.ret == 64 && qmsg.mtype == 5 && atomic_load(&returned),
       "msgrcv, cancellation disabled: returned the message sent afterwards");
    ok(res == PTHREAD_CANCELED && atomic_load(&cleanups) == 1,
       "msgrcv, cancellation disabled: cancelled at the next pthread_testcancel");
    j.disable = 0;

    /* Pending at entry: acts though a message is there; it stays. */
    send1(6);
    ok(cancel_pending(&j) == PTHREAD_CANCELED,
       "msgrcv with a cancellation pending at entry: cancelled though a message is there");
    qcounts(&n, &b);
    ok(n == 1, "msgrcv, pending at entry: the message stays in the queue (%ld)", n);
    drain_queue();
    j.call = do_msgsnd;
    ok(cancel_pending(&j) == PTHREAD_CANCELED,
       "msgsnd with a cancellation pending at entry: cancelled though there is room");
    qcounts(&n, &b);
    ok(n == 0, "msgsnd, pending at entry: nothing was sent (%ld)", n);

    ok(msgctl(qid, IPC_RMID, NULL) == 0, "IPC_RMID");
}

/* ---- native queue ---- */

static struct ripc_queue *nq;
static long nq_timeout;

static long nq_recv(void *a) {
    (void)a;
    char b[64];
    long t;
    return ripc_queue_recv(nq, 0, b, sizeof b, 0, nq_timeout, &t);
}

static long nq_send(void *a) {
    (void)a;
    return ripc_queue_send(nq, 9, pbuf, 64, nq_timeout);
}

static void nq_unblock(void) {
    ripc_queue_send(nq, 1, "x", 1, 0);
}

static void nq_drain(void) {
    char b[64];
    long t;
    while (ripc_queue_recv(nq, 0, b, sizeof b, 0, 0, &t) >= 0) {
    }
}

static void part_native_queue(void) {
    struct job j = {0};
    nq = ripc_queue_open(NULL, IPC_PRIVATE, 128, IPC_CREAT | 0600);
    if (!ok(nq != NULL, "ripc_queue_open (capacity 128)")) return;
    struct ripc_queue_info qi;
    long timeouts[2] = {-1, 30000};
    for (int k = 0; k < 2; k++) {
        char what[64];
        nq_timeout = timeouts[k];
        snprintf(what, sizeof what, "ripc_queue_recv (timeout %ld ms)", nq_timeout);
        j.call = nq_recv;
        cancel_blocked(what, &j, nq_unblock);
        nq_drain();
        ok(ripc_queue_send(nq, 1, "y", 1, 0) == 0, "%s: a send afterwards", what);
        char b[8];
        long t = 0;
        ok(ripc_queue_recv(nq, 0, b, sizeof b, 0, 0, &t) == 1 && t == 1, "%s: is received", what);

        snprintf(what, sizeof what, "ripc_queue_send (full, timeout %ld ms)", nq_timeout);
        ripc_queue_send(nq, 1, pbuf, 64, 0);
        ripc_queue_send(nq, 2, pbuf, 64, 0);
        j.call = nq_send;
        cancel_blocked(what, &j, nq_drain);
        ok(ripc_queue_stat(nq, &qi) == 0 && qi.messages == 2 && qi.bytes == 128,
           "%s: the queue holds its two messages only", what);
        nq_drain();
    }
    /* Pending at entry: a message there, still cancelled; it stays. */
    ripc_queue_send(nq, 4, "z", 1, 0);
    nq_timeout = -1;
    j.call = nq_recv;
    ok(cancel_pending(&j) == PTHREAD_CANCELED, "ripc_queue_recv with a cancellation pending at entry: cancelled");
    ok(ripc_queue_stat(nq, &qi) == 0 && qi.messages == 1, "ripc_queue_recv, pending: the message stays");
    ok(ripc_queue_remove(nq) == 0 && ripc_queue_close(nq) == 0, "ripc_queue_remove, ripc_queue_close");
}

/* ---- pipes: disabled and pending ---- */

static void part_pipe_states(void) {
    struct job j = {0};
    pthread_t th;
    void *res = NULL;
    pp = ripc_pipe_new(0);
    if (!ok(pp != NULL, "ripc_pipe_new")) return;
    j.call = pipe_read;
    j.disable = 1;
    start(&th, &j);
    ok(asleep(), "ripc_pipe_read, cancellation disabled: asleep");
    pthread_cancel(th);
    usleep(200000);
    ok(!atomic_load(&returned), "ripc_pipe_read, cancellation disabled: still waiting after pthread_cancel");
    ripc_pipe_write(pp, "0123456789abcdef", 16);
    ok(joined(th, &res) && j.ret == 16 && atomic_load(&returned),
       "ripc_pipe_read, cancellation disabled: returned the bytes written afterwards");
    ok(res == PTHREAD_CANCELED && atomic_load(&cleanups) == 1,
       "ripc_pipe_read, cancellation disabled: cancelled at the next pthread_testcancel");
    j.disable = 0;

    ripc_pipe_write(pp, "abc", 3);
    ok(cancel_pending(&j) == PTHREAD_CANCELED,
       "ripc_pipe_read with a cancellation pending at entry: cancelled though bytes are there");
    ok_eq(ripc_pipe_available(pp), 3, "ripc_pipe_read, pending: the bytes stay");
    ok_eq(ripc_pipe_free(pp), 0, "ripc_pipe_free");
}

/* ---- pipes: pending at entry, at the edges ----
 *
 * glibc's read and write act on a pending cancellation at entry whatever
 * the call would do: bytes or room there, a length of 0, a bad
 * descriptor, a bad buffer (checked with plain read/write on glibc 2.36).
 * So do ripc's, in a process with several threads and in one with a
 * single thread that cancelled itself (where glibc's
 * __libc_single_threaded stays set: ripc's entry test is what acts
 * there, not its system call). */

static struct ripc_pipe *pc; /* its read end closed */

static long pipe_write1(void *a) {
    (void)a;
    return ripc_pipe_write(pp, "x", 1);
}

static long pipe_write_all1(void *a) {
    (void)a;
    return ripc_pipe_write_all(pp, "x", 1);
}

static long pipe_read0(void *a) {
    (void)a;
    return ripc_pipe_read(pp, pbuf, 0);
}

static long pipe_read_exact0(void *a) {
    (void)a;
    return ripc_pipe_read_exact(pp, pbuf, 0);
}

static long pipe_read_closed(void *a) {
    (void)a;
    return ripc_pipe_read(pc, pbuf, 16);
}

static long pipe_read_efault(void *a) {
    (void)a;
    return ripc_pipe_read(pp, (void *)8, 16);
}

static long raw_read(void *a) {
    (void)a;
    return read(ripc_pipe_fd(pp, RIPC_PIPE_READ), pbuf, 16);
}

static const struct {
    const char *what;
    long (*call)(void *);
} edges[] = {
    {"read() of the C library (the reference), bytes there", raw_read},
    {"ripc_pipe_read, bytes there", pipe_read},
    {"ripc_pipe_read_exact, some bytes there", pipe_read_exact},
    {"ripc_pipe_write, room there", pipe_write1},
    {"ripc_pipe_write_all, room there", pipe_write_all1},
    {"ripc_pipe_read of 0 bytes", pipe_read0},
    {"ripc_pipe_read_exact of 0 bytes", pipe_read_exact0},
    {"ripc_pipe_read, read end closed (EBADF)", pipe_read_closed},
    {"ripc_pipe_read, bad buffer (EFAULT)", pipe_read_efault},
};
#define N_EDGES (sizeof edges / sizeof edges[0])

static int rep_fd; /* the single-threaded child's report */

static void report_cleanup(void *a) {
    (void)a;
    if (write(rep_fd, "C", 1) != 1) _exit(3);
}

/* A child process with one thread cancels itself, then makes `call`:
 * returns what it reported: 'S' when it had one thread, 'C' from its
 * cleanup handler, 'R' when the call returned (then its errno, as "R<n>"),
 * then "X<status>" for how it ended (the main thread cancelled: the
 * process exits 0 once its last thread is gone; 128 + the signal when
 * killed, 142 by its alarm). Expected: "SCX0". */
static void self_cancel(long (*call)(void *), char *out, size_t size) {
    int rp[2];
    out[0] = 0;
    if (pipe(rp) != 0) return;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        close(rp[0]);
        rep_fd = rp[1];
        alarm(5); /* a call that blocks instead ends here ("X142") */
        if (__libc_single_threaded && write(rep_fd, "S", 1) != 1) _exit(3);
        pthread_cleanup_push(report_cleanup, NULL);
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
        pthread_cancel(pthread_self());
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
        call(NULL);
        int e = errno;
        /* The report's write is a cancellation point of its own. */
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
        char r[16];
        int n = snprintf(r, sizeof r, "R%d", e);
        if (write(rep_fd, r, (size_t)n) != n) _exit(3);
        pthread_cleanup_pop(0);
        _exit(0);
    }
    close(rp[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < size && (n = read(rp[0], out + got, size - 1 - got)) > 0) got += (size_t)n;
    out[got] = 0;
    close(rp[0]);
    int st = 0;
    if (c > 0) waitpid(c, &st, 0);
    snprintf(out + got, size - got, "X%d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

/* The pipe holds "abc", whatever an earlier case did. */
static void refill(void) {
    drain_pipe();
    ripc_pipe_write(pp, "abc", 3);
}

static void part_pipe_edges(void) {
    struct job j = {0};
    pp = ripc_pipe_new(0);
    pc = ripc_pipe_new(0);
    if (!ok(pp != NULL && pc != NULL, "ripc_pipe_new")) return;
    ripc_pipe_close(pc, RIPC_PIPE_READ);
    for (size_t i = 0; i < N_EDGES; i++) {
        char rep[64];
        refill();
        self_cancel(edges[i].call, rep, sizeof rep);
        ok(strcmp(rep, "SCX0") == 0, "one thread, cancelled itself: %s: cancelled at entry (%s)", edges[i].what,
           rep);
        ok_eq(ripc_pipe_available(pp), 3, "one thread: %s: the pipe is as it was", edges[i].what);
    }
    for (size_t i = 0; i < N_EDGES; i++) {
        refill();
        j.call = edges[i].call;
        ok(cancel_pending(&j) == PTHREAD_CANCELED, "two threads, pending at entry: %s: cancelled", edges[i].what);
        ok_eq(ripc_pipe_available(pp), 3, "two threads: %s: the pipe is as it was", edges[i].what);
    }
    ok_eq(ripc_pipe_free(pc), 0, "ripc_pipe_free");
    ok_eq(ripc_pipe_free(pp), 0, "ripc_pipe_free");
}

/* ---- signals ---- */

static long sig_wait(void *a) {
    (void)a;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    return ripc_signal_wait(&s, NULL, -1);
}

static void part_signal_wait(void) {
    struct job j = {0};
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    j.call = sig_wait;
    cancel_blocked("ripc_signal_wait", &j, NULL);
}

/* ---- semop: no cancellation point ---- */

static int sid;

static long do_semop(void *a) {
    (void)a;
    struct sembuf op = {0, -1, 0};
    return semop(sid, &op, 1);
}

static void part_semop(void) {
    struct job j = {0};
    pthread_t th;
    void *res = NULL;
    sid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    if (!ok(sid >= 0, "semget")) return;
    j.call = do_semop;
    start(&th, &j);
    ok(asleep(), "semop: asleep");
    pthread_cancel(th);
    usleep(300000);
    ok(!atomic_load(&returned) && atomic_load(&cleanups) == 0,
       "semop is no cancellation point: still waiting 300 ms after pthread_cancel (as glibc's)");
    struct sembuf v = {0, 1, 0};
    ok(semop(sid, &v, 1) == 0, "semop +1");
    /* It completes; the cancellation, still pending, would act at the
     * thread's next cancellation point: it meets none and returns. */
    ok(joined(th, &res) && res == NULL, "semop: the thread returns once the semaphore is posted");
    ok(atomic_load(&returned) && j.ret == 0, "semop: completed (returned 0)");
    ok_eq(semctl(sid, 0, GETVAL), 0, "semop: the unit was taken");
    ok(semctl(sid, 0, IPC_RMID) == 0, "IPC_RMID");
}

/* ---- no cancellation points, with a cancellation pending ---- */

static long not_points_failed; /* bit i: the i-th call failed */

static long not_points(void *a) {
    (void)a;
    long done = 0;
#define step(i, c) ((c) ? (void)done++ : (void)(not_points_failed |= 1L << (i)))
    int s = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    struct sembuf up[2] = {{0, 1, 0}, {1, 1, SEM_UNDO}}, down = {0, -1, IPC_NOWAIT};
    step(0, s >= 0);
    step(1, semop(s, up, 2) == 0);
    step(2, semop(s, &down, 1) == 0);
    step(3, semctl(s, 0, IPC_RMID) == 0);
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    struct msqid_ds ds;
    step(4, q >= 0);
    step(5, msgctl(q, IPC_STAT, &ds) == 0);
    step(6, msgctl(q, IPC_RMID, NULL) == 0);
    int m = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    void *at = shmat(m, NULL, 0);
    step(7, m >= 0 && at != (void *)-1);
    step(8, shmdt(at) == 0);
    step(9, shmctl(m, IPC_RMID, NULL) == 0);
    struct ripc_pipe *p = ripc_pipe_new(0);
    step(10, p != NULL);
    step(11, ripc_pipe_free(p) == 0);
#undef step
    return done;
}

/* semget, semop, semctl, msgget, msgctl, shmget, shmat, shmdt, shmctl,
 * ripc_pipe_new and ripc_pipe_free are no cancellation points: with a
 * cancellation pending, each completes (ripc's own opens, reads and
 * sleeps inside must not act on it: before, msgget aborted the process),
 * and the cancellation acts at the thread's next cancellation point. */
static void part_not_points(void) {
    struct job j = {0};
    pthread_t th;
    void *res = NULL;
    j.call = not_points;
    j.pending = 1;
    j.disable = 1; /* runner: enables again after the call, then testcancel */
    start(&th, &j);
    for (int i = 0; i < 10000 && !atomic_load(&disabled); i++) usleep(1000);
    pthread_cancel(th);
    atomic_store(&go, 1);
    ok(joined(th, &res), "pending cancellation, no cancellation points: joined");
    ok_eq(j.ret, 12, "each of the 12 calls completed with a cancellation pending");
    if (j.ret != 12) diag("failed: mask %lx", not_points_failed);
    ok(atomic_load(&returned), "the calls returned");
    ok(res == PTHREAD_CANCELED && atomic_load(&cleanups) == 1,
       "the cancellation acted at the next pthread_testcancel");
}

int main(void) {
    tap_subtest("pipes", part_pipes);
    tap_subtest("pipe_states", part_pipe_states);
    tap_subtest("pipe_edges", part_pipe_edges);
    tap_subtest("fifo", part_fifo);
    tap_subtest("msg", part_msg);
    tap_subtest("native_queue", part_native_queue);
    tap_subtest("signal_wait", part_signal_wait);
    tap_subtest("semop", part_semop);
    tap_subtest("not_points", part_not_points);
    return done_testing();
}
