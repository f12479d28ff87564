/* bench/matrix.c — the placement matrix (issue 17, docs/perf.md): every
 * way this machine offers to pass a message or a semaphore between two
 * processes, in three placements, in one run.
 *
 * Rows (placements):
 *   a CPU each    the two processes pinned to two different CPUs
 *   one CPU       both pinned to the same CPU
 *   + busy task   both pinned to the same CPU beside a third process
 *                 pinned there that only loops (`while (1);`, nice 0):
 *                 a loaded server (ping-pong figures only; the spinning
 *                 bounds, ring and floor, are not run there)
 *   two, unpinned the same two processes, nothing pinned (for comparison:
 *                 what a pinned process does differently shows here)
 *   oversub.      nothing pinned, more runnable processes than CPUs: 4
 *                 senders + 4 receivers on one queue, or 2 semaphore
 *                 ping-pong pairs (total rate, and CPU time per operation
 *                 from the children's rusage)
 * Columns, messages: the kernel's System V queue (msgsnd/msgrcv), POSIX mq,
 *   a pipe, a SOCK_SEQPACKET socketpair, Boost.Interprocess message_queue
 *   (when built with it), the ideal ring (one producer, one consumer,
 *   release stores only; its waits spin, then yield the CPU), and ripc
 *   (ripc_msgsnd/ripc_msgrcv: what `-include ripc_sysv.h -lripc` makes of
 *   the same calls; the user engine in a private RIPC_DIR).
 * Columns, semaphores: the kernel's semop, a process-shared sem_t, the
 *   spinning floor (one word in shared memory passed there and back, spin
 *   then yield), and ripc_semop.
 * Figures: stream throughput at 64 B, 1 KiB and 8 KiB (each queue holds
 *   16 KiB: msgmnb's default; POSIX mq and Boost get 16 KiB / size slots;
 *   pipe and socket keep their defaults); 64 B ping-pong round trip;
 *   semaphore ping-pong round trip; uncontended P+V in one process.
 *
 * Each cell runs for BENCH_MS milliseconds (default 200) and is repeated
 * BENCH_REPS times (default 5), the columns of a row alternating within
 * each repetition so that load from elsewhere hits them alike; a warm-up
 * round comes first. A cell prints the median and (min–max). Ratios are
 * "speed of ripc relative to X" (rate ripc / rate X, or time X / time
 * ripc: above 1 ripc is faster), the median of the per-repetition ratios,
 * so each compares figures measured side by side. BENCH_QUICK=1: 3
 * repetitions of 50 ms (about a quarter of the time). BENCH_ONLY=a,b,...
 * runs only the figures named (stream64, stream1k, stream8k, pingpong,
 * over44, sem, pv); the others print as "—" and their targets as "not
 * measured".
 */
#include <ripc.h>
#define RIPC_SYSV_NO_RENAME /* ripc_msg*, ripc_semop beside the kernel's calls */
#include "ripc_sysv.h"
#include "bench.h"
#ifdef BENCH_BOOST
#include "boost_mq.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <mqueue.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXREPS 31
#define QUEUE_BYTES 16384
#define MAXMSG 8192

static int reps = 5;
static double run_s = 0.2;
static int cpu_a = -1, cpu_b = -1; /* the first two CPUs we may use */

/* ------------------------------------------------------------------ */
/* Waiting without the kernel: spin a little, then give the CPU away. */

static inline void relax(unsigned *spins) {
    if (++*spins < 128) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        *spins = 0;
        sched_yield();
    }
}

/* ------------------------------------------------------------------ */
/* Message channels: one interface over every column. A message is a
 * struct msgb (the mtype is used by the System V columns only); its first
 * payload byte says what it is: 'e' ends the run, anything else counts. */

struct msgb {
    long mtype;
    char mtext[MAXMSG];
};

enum shape { STREAM, PINGPONG, MPMC };

/* The ideal ring: records of a 16-byte header and the payload, rounded to
 * 64 bytes; tail written by the producer, head by the consumer, each with
 * a release store, each side keeping its own copy of the other's word. */
#define RING_BYTES (256 * 1024)
struct ring {
    _Alignas(64) _Atomic uint64_t tail;
    _Alignas(64) _Atomic uint64_t head;
    _Alignas(64) char data[RING_BYTES];
};

struct chan {
    enum shape shape;
    size_t size;
    int id;        /* System V (kernel or ripc) */
    mqd_t mq[2];   /* POSIX mq: forward, back */
    int fd[4];     /* pipe: fwd read, fwd write, back read, back write; socket: 0/1 */
    void *bq[2];   /* Boost */
    char bname[2][64];
    struct ring *ring[2];
    uint64_t my_tail[2], my_head[2], seen[2]; /* this process's ring words */
};

struct qops {
    const char *name;
    int mpmc;                  /* several senders and receivers on one channel */
    const char *skip;          /* why this column is not measured, or NULL */
    int (*open)(struct chan *);
    int (*send)(struct chan *, int dir, struct msgb *, size_t);
    long (*recv)(struct chan *, int dir, struct msgb *, size_t);
    void (*close)(struct chan *);
};

/* System V, the kernel's or ripc's: one queue, type 1 forward, 2 back. */
static int sysv_open_with(struct chan *c, int (*get)(key_t, int)) {
    c->id = get(IPC_PRIVATE, IPC_CREAT | 0600);
    return c->id < 0 ? -1 : 0;
}
static int k_open(struct chan *c) { return sysv_open_with(c, msgget); }
static int r_open(struct chan *c) { return sysv_open_with(c, ripc_msgget); }
static int k_send(struct chan *c, int dir, struct msgb *m, size_t n) {
    m->mtype = dir + 1;
    return msgsnd(c->id, m, n, 0);
}
static int r_send(struct chan *c, int dir, struct msgb *m, size_t n) {
    m->mtype = dir + 1;
    return ripc_msgsnd(c->id, m, n, 0);
}
static long k_recv(struct chan *c, int dir, struct msgb *m, size_t n) { return msgrcv(c->id, m, n, dir + 1, 0); }
static long r_recv(struct chan *c, int dir, struct msgb *m, size_t n) { return ripc_msgrcv(c->id, m, n, dir + 1, 0); }
static void k_close(struct chan *c) { msgctl(c->id, IPC_RMID, NULL); }
static void r_close(struct chan *c) { ripc_msgctl(c->id, IPC_RMID, NULL); }

/* POSIX mq: a queue per direction, unlinked at once (the descriptors are
 * inherited). As root the slot count may exceed fs.mqueue.msg_max. */
static int pmq_open(struct chan *c) {
    for (int d = 0; d < (c->shape == PINGPONG ? 2 : 1); d++) {
        char name[64];
        snprintf(name, sizeof name, "/ripc-bench-matrix-%d-%d", (int)getpid(), d);
        struct mq_attr a = {.mq_maxmsg = (long)(QUEUE_BYTES / c->size), .mq_msgsize = (long)c->size};
        c->mq[d] = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &a);
        if (c->mq[d] == (mqd_t)-1 && errno == EINVAL) {
            a.mq_maxmsg = 10;
            c->mq[d] = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &a);
        }
        if (c->mq[d] == (mqd_t)-1) return -1;
        mq_unlink(name);
    }
    return 0;
}
static int pmq_send(struct chan *c, int dir, struct msgb *m, size_t n) { return mq_send(c->mq[dir], m->mtext, n, 0); }
static long pmq_recv(struct chan *c, int dir, struct msgb *m, size_t n) {
    return mq_receive(c->mq[dir], m->mtext, n < c->size ? c->size : n, NULL);
}
static void pmq_close(struct chan *c) {
    for (int d = 0; d < (c->shape == PINGPONG ? 2 : 1); d++) mq_close(c->mq[d]);
}

/* A pipe per direction; a message is its bytes (one write, read in full). */
static int pipe_open(struct chan *c) {
    if (pipe(c->fd)) return -1;
    if (c->shape == PINGPONG && pipe(c->fd + 2)) return -1;
    return 0;
}
static int fd_write(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}
static long fd_read(int fd, char *p, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return (long)got;
}
static int pipe_send(struct chan *c, int dir, struct msgb *m, size_t n) { return fd_write(c->fd[2 * dir + 1], m->mtext, n); }
static long pipe_recv(struct chan *c, int dir, struct msgb *m, size_t n) { return fd_read(c->fd[2 * dir], m->mtext, n); }
static void pipe_close(struct chan *c) {
    for (int i = 0; i < (c->shape == PINGPONG ? 4 : 2); i++) close(c->fd[i]);
}

/* A SOCK_SEQPACKET socketpair: forward 0 -> 1, back 1 -> 0. */
static int sock_open(struct chan *c) { return socketpair(AF_UNIX, SOCK_SEQPACKET, 0, c->fd); }
static int sock_send(struct chan *c, int dir, struct msgb *m, size_t n) {
    return send(c->fd[dir], m->mtext, n, 0) == (ssize_t)n ? 0 : -1;
}
static long sock_recv(struct chan *c, int dir, struct msgb *m, size_t n) { return recv(c->fd[1 - dir], m->mtext, n, 0); }
static void sock_close(struct chan *c) {
    close(c->fd[0]);
    close(c->fd[1]);
}

#ifdef BENCH_BOOST
static int boost_open(struct chan *c) {
    for (int d = 0; d < (c->shape == PINGPONG ? 2 : 1); d++) {
        snprintf(c->bname[d], sizeof c->bname[d], "ripc-bench-matrix-%d-%d", (int)getpid(), d);
        c->bq[d] = bmq_create(c->bname[d], QUEUE_BYTES / c->size, c->size);
        if (!c->bq[d]) return -1;
    }
    return 0;
}
static int boost_send(struct chan *c, int dir, struct msgb *m, size_t n) { return bmq_send(c->bq[dir], m->mtext, n); }
static long boost_recv(struct chan *c, int dir, struct msgb *m, size_t n) {
    (void)n;
    return bmq_receive(c->bq[dir], m->mtext, c->size);
}
static void boost_close(struct chan *c) {
    for (int d = 0; d < (c->shape == PINGPONG ? 2 : 1); d++) bmq_destroy(c->bq[d], c->bname[d]);
}
#define BOOST_SKIP NULL
#else
static int boost_open(struct chan *c) { return (void)c, -1; }
static int boost_send(struct chan *c, int dir, struct msgb *m, size_t n) { return (void)c, (void)dir, (void)m, (void)n, -1; }
static long boost_recv(struct chan *c, int dir, struct msgb *m, size_t n) { return (void)c, (void)dir, (void)m, (void)n, -1; }
static void boost_close(struct chan *c) { (void)c; }
#define BOOST_SKIP "not built: Boost.Interprocess headers (libboost-dev) or g++ missing"
#endif

static int ring_open(struct chan *c) {
    for (int d = 0; d < (c->shape == PINGPONG ? 2 : 1); d++) {
        c->ring[d] = mmap(NULL, sizeof(struct ring), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE,
                          -1, 0);
        if (c->ring[d] == MAP_FAILED) return -1;
        c->my_tail[d] = c->my_head[d] = c->seen[d] = 0;
    }
    return 0;
}
static uint64_t rec_bytes(size_t n) { return (n + 16 + 63) & ~(uint64_t)63; }
static int ring_send(struct chan *c, int dir, struct msgb *m, size_t n) {
    struct ring *r = c->ring[dir];
    const uint64_t rec = rec_bytes(c->size), span = RING_BYTES / rec * rec;
    uint64_t tail = c->my_tail[dir];
    unsigned spins = 0;
    /* At most QUEUE_BYTES of payload in flight, as in a default queue. */
    while ((tail - c->seen[dir]) / rec * c->size + c->size > QUEUE_BYTES) {
        c->seen[dir] = atomic_load_explicit(&r->head, memory_order_acquire);
        if ((tail - c->seen[dir]) / rec * c->size + c->size > QUEUE_BYTES) relax(&spins);
    }
    char *p = r->data + tail % span;
    uint64_t len = n;
    memcpy(p, &len, sizeof len);
    memcpy(p + 16, m->mtext, n);
    c->my_tail[dir] = tail + rec;
    atomic_store_explicit(&r->tail, tail + rec, memory_order_release);
    return 0;
}
static long ring_recv(struct chan *c, int dir, struct msgb *m, size_t n) {
    struct ring *r = c->ring[dir];
    const uint64_t rec = rec_bytes(c->size), span = RING_BYTES / rec * rec;
    uint64_t head = c->my_head[dir];
    unsigned spins = 0;
    while (head == c->seen[dir]) {
        c->seen[dir] = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head == c->seen[dir]) relax(&spins);
    }
    const char *p = r->data + head % span;
    uint64_t len;
    memcpy(&len, p, sizeof len);
    if (len > n) return -1;
    memcpy(m->mtext, p + 16, len);
    c->my_head[dir] = head + rec;
    atomic_store_explicit(&r->head, head + rec, memory_order_release);
    return (long)len;
}
static void ring_close(struct chan *c) {
    for (int d = 0; d < (c->shape == PINGPONG ? 2 : 1); d++) munmap(c->ring[d], sizeof(struct ring));
}

enum { Q_SYSV, Q_PMQ, Q_PIPE, Q_SOCK, Q_BOOST, Q_RING, Q_RIPC, NQ };
static struct qops QOPS[NQ] = {
    [Q_SYSV] = {"SysV (kernel)", 1, NULL, k_open, k_send, k_recv, k_close},
    [Q_PMQ] = {"POSIX mq", 1, NULL, pmq_open, pmq_send, pmq_recv, pmq_close},
    [Q_PIPE] = {"pipe", 1, NULL, pipe_open, pipe_send, pipe_recv, pipe_close},
    [Q_SOCK] = {"socket", 1, NULL, sock_open, sock_send, sock_recv, sock_close},
    [Q_BOOST] = {"Boost mq", 1, BOOST_SKIP, boost_open, boost_send, boost_recv, boost_close},
    [Q_RING] = {"ideal ring", 0, NULL, ring_open, ring_send, ring_recv, ring_close},
    [Q_RIPC] = {"ripc", 1, NULL, r_open, r_send, r_recv, r_close},
};

/* ------------------------------------------------------------------ */
/* Semaphores: two of them, P and V on one. */

struct sems {
    int id;
    sem_t *st;                /* two process-shared sem_t */
    _Atomic int *word;        /* the floor: two words, 64 bytes apart */
};

struct sops {
    const char *name;
    int (*open)(struct sems *);
    int (*P)(struct sems *, int);
    int (*V)(struct sems *, int);
    void (*close)(struct sems *);
};

static int ksem_open(struct sems *s) { return (s->id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600)) < 0 ? -1 : 0; }
static int rsem_open(struct sems *s) { return (s->id = ripc_semget(IPC_PRIVATE, 2, IPC_CREAT | 0600)) < 0 ? -1 : 0; }
static int ksem_op(struct sems *s, int i, int d) {
    struct sembuf b = {(unsigned short)i, (short)d, 0};
    return semop(s->id, &b, 1);
}
static int rsem_op(struct sems *s, int i, int d) {
    struct sembuf b = {(unsigned short)i, (short)d, 0};
    return ripc_semop(s->id, &b, 1);
}
static int ksem_P(struct sems *s, int i) { return ksem_op(s, i, -1); }
static int ksem_V(struct sems *s, int i) { return ksem_op(s, i, 1); }
static int rsem_P(struct sems *s, int i) { return rsem_op(s, i, -1); }
static int rsem_V(struct sems *s, int i) { return rsem_op(s, i, 1); }
static void ksem_close(struct sems *s) { semctl(s->id, 0, IPC_RMID); }
static void rsem_close(struct sems *s) { ripc_semctl_arg(s->id, 0, IPC_RMID, 0, NULL); }

static int semt_open(struct sems *s) {
    s->st = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s->st == MAP_FAILED) return -1;
    return sem_init(&s->st[0], 1, 0) || sem_init(&s->st[1], 1, 0) ? -1 : 0;
}
static int semt_P(struct sems *s, int i) {
    int r;
    while ((r = sem_wait(&s->st[i])) != 0 && errno == EINTR) {
    }
    return r;
}
static int semt_V(struct sems *s, int i) { return sem_post(&s->st[i]); }
static void semt_close(struct sems *s) {
    sem_destroy(&s->st[0]);
    sem_destroy(&s->st[1]);
    munmap(s->st, 4096);
}

static int floor_open(struct sems *s) {
    s->word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return s->word == MAP_FAILED ? -1 : 0;
}
static int floor_P(struct sems *s, int i) {
    _Atomic int *w = &s->word[16 * i];
    unsigned spins = 0;
    for (;;) {
        int v = atomic_load_explicit(w, memory_order_relaxed);
        if (v > 0 && atomic_compare_exchange_weak(w, &v, v - 1)) return 0;
        if (v <= 0) relax(&spins);
    }
}
static int floor_V(struct sems *s, int i) {
    atomic_fetch_add(&s->word[16 * i], 1);
    return 0;
}
static void floor_close(struct sems *s) { munmap((void *)s->word, 4096); }

enum { S_SYSV, S_SEMT, S_FLOOR, S_RIPC, NS };
static const struct sops SOPS[NS] = {
    [S_SYSV] = {"semop (kernel)", ksem_open, ksem_P, ksem_V, ksem_close},
    [S_SEMT] = {"sem_t", semt_open, semt_P, semt_V, semt_close},
    [S_FLOOR] = {"spin floor", floor_open, floor_P, floor_V, floor_close},
    [S_RIPC] = {"ripc semop", rsem_open, rsem_P, rsem_V, rsem_close},
};

/* ------------------------------------------------------------------ */
/* Running a cell: children forked first, released together, timed from
 * shared memory; their CPU time from wait4. */

enum place { EACH, ONE, BUSY, FREE, OVER, NPLACE };
static const char *PLACE[NPLACE] = {"a CPU each", "one CPU for both", "one CPU + a busy task", "two, unpinned",
                                    "oversubscribed"};

#define MAXKIDS 8
#define WARM 100 /* messages or round trips before the clock starts */

struct shared {
    _Atomic int stop;  /* set by the parent when the time is up */
    _Atomic int done[MAXKIDS]; /* semaphore ping-pong: pair i's pinger's last V */
    double t0[MAXKIDS], t1[MAXKIDS];
    long n[MAXKIDS];
    int fail;
};
static struct shared *sh;

struct result {
    double v;   /* rate (ops/s) or time per op (s) */
    double cpu; /* CPU seconds per op, all the children together */
};

static void pin(int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set)) die("sched_setaffinity");
}

/* Forks a child that pins itself to `cpu`, waits for the start (the end
 * of file on go[0]) and runs fn(arg, slot). */
static pid_t spawn(const int go[2], int cpu, void (*fn)(void *, int), void *arg, int slot) {
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p == 0) {
        char c;
        close(go[1]);
        pin(cpu);
        if (read(go[0], &c, 1) != 0) _exit(9);
        fn(arg, slot);
        _exit(0);
    }
    return p;
}

/* Releases the children, lets them run for run_s, stops them and reaps
 * them (killing what is still there 10 s later: a failed side can leave
 * its peer blocked); returns the start time, their CPU seconds in *cpu. */
static double release(int go[2], pid_t *kids, int nkids, double *cpu) {
    close(go[0]);
    double t0 = now();
    close(go[1]);
    struct timespec ts = {(time_t)run_s, (long)((run_s - (double)(time_t)run_s) * 1e9)};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
    atomic_store(&sh->stop, 1);
    *cpu = 0;
    double deadline = now() + 10;
    for (int i = 0; i < nkids; i++) {
        int st;
        struct rusage ru;
        pid_t w;
        while ((w = wait4(kids[i], &st, WNOHANG, &ru)) == 0) {
            if (now() > deadline) {
                fprintf(stderr, "matrix: a child is stuck: killed\n");
                for (int j = i; j < nkids; j++) kill(kids[j], SIGKILL);
                deadline = now() + 3600;
            }
            usleep(1000);
        }
        if (w < 0) die("wait4");
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) sh->fail = 1;
        *cpu += (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    }
    return t0;
}

static void reset_shared(void) {
    memset(sh, 0, sizeof *sh);
}

struct qarg {
    const struct qops *o;
    struct chan *c;
};

/* Stream: the sender sends until told to stop, then an end message; each
 * receiver counts until its end message. */
static void q_sender(void *a, int slot) {
    struct qarg *q = a;
    static struct msgb m;
    (void)slot;
    memset(m.mtext, 's', q->c->size);
    while (!atomic_load_explicit(&sh->stop, memory_order_relaxed))
        if (q->o->send(q->c, 0, &m, q->c->size)) _exit(3);
    m.mtext[0] = 'e';
    if (q->o->send(q->c, 0, &m, q->c->size)) _exit(3);
}
static void q_receiver(void *a, int slot) {
    struct qarg *q = a;
    static struct msgb m;
    long n = 0;
    sh->t0[slot] = 0;
    for (;;) {
        if (q->o->recv(q->c, 0, &m, q->c->size) != (long)q->c->size) _exit(4);
        if (m.mtext[0] == 'e') break;
        if (++n == WARM) sh->t0[slot] = now();
    }
    sh->t1[slot] = now();
    sh->n[slot] = n;
}

/* Ping-pong: the pinger counts round trips until told to stop; the end
 * message comes back too. */
static void q_pinger(void *a, int slot) {
    struct qarg *q = a;
    static struct msgb m;
    long n = 0;
    memset(m.mtext, 'p', q->c->size);
    while (n <= WARM || !atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
        if (n == WARM) sh->t0[slot] = now();
        if (q->o->send(q->c, 0, &m, q->c->size) || q->o->recv(q->c, 1, &m, q->c->size) != (long)q->c->size) _exit(5);
        n++;
    }
    sh->t1[slot] = now();
    sh->n[slot] = n - WARM;
    m.mtext[0] = 'e';
    if (q->o->send(q->c, 0, &m, q->c->size) || q->o->recv(q->c, 1, &m, q->c->size) != (long)q->c->size) _exit(5);
}
static void q_ponger(void *a, int slot) {
    struct qarg *q = a;
    static struct msgb m;
    (void)slot;
    do {
        if (q->o->recv(q->c, 0, &m, q->c->size) != (long)q->c->size || q->o->send(q->c, 1, &m, q->c->size)) _exit(6);
    } while (m.mtext[0] != 'e');
}

static int open_chan(const struct qops *o, struct chan *c, enum shape shape, size_t size) {
    memset(c, 0, sizeof *c);
    c->shape = shape;
    c->size = size;
    if (o->open(c)) {
        fprintf(stderr, "matrix: %s: open: %s\n", o->name, strerror(errno));
        return -1;
    }
    return 0;
}

static int cpu_of(enum place pl, int side) {
    return pl == EACH ? (side ? cpu_b : cpu_a) : pl == ONE || pl == BUSY ? cpu_a : -1;
}

/* The third task of the BUSY placement: a process pinned to the one CPU
 * that loops until killed (started before the pair, so that it is
 * running when they start; its CPU time is not counted). 0 elsewhere.
 * `go`: the pair's start pipe, closed in the loop. */
static pid_t busy_start(enum place pl, const int go[2]) {
    if (pl != BUSY) return 0;
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p == 0) {
        close(go[0]); /* the pair's start is the end of file on go */
        close(go[1]);
        pin(cpu_a);
        for (;;) {
        }
    }
    return p;
}
static void busy_stop(pid_t p) {
    if (p <= 0) return;
    kill(p, SIGKILL);
    while (waitpid(p, NULL, 0) < 0 && errno == EINTR) {
    }
}

/* One cell of a message figure: rate (msg/s) for STREAM and MPMC, seconds
 * per round trip for PINGPONG. */
static int q_cell(const struct qops *o, enum shape shape, size_t size, enum place pl, struct result *res) {
    struct chan c;
    if (open_chan(o, &c, shape, size)) return -1;
    struct qarg a = {o, &c};
    reset_shared();
    int go[2];
    if (pipe(go)) die("pipe");
    pid_t kids[MAXKIDS], busy = busy_start(pl, go);
    int nk = 0, nrecv = shape == MPMC ? 4 : 1;
    if (shape == PINGPONG) {
        kids[nk++] = spawn(go, cpu_of(pl, 0), q_pinger, &a, 0);
        kids[nk++] = spawn(go, cpu_of(pl, 1), q_ponger, &a, 1);
    } else {
        for (int i = 0; i < nrecv; i++) kids[nk++] = spawn(go, cpu_of(pl, 1), q_receiver, &a, i);
        for (int i = 0; i < nrecv; i++) kids[nk++] = spawn(go, cpu_of(pl, 0), q_sender, &a, 0);
    }
    double cpu, t_go = release(go, kids, nk, &cpu);
    busy_stop(busy);
    o->close(&c);
    if (sh->fail) {
        fprintf(stderr, "matrix: %s: a child failed\n", o->name);
        return -1;
    }
    if (shape == PINGPONG) {
        res->v = (sh->t1[0] - sh->t0[0]) / (double)sh->n[0];
        res->cpu = cpu / (double)(sh->n[0] + WARM);
        return 0;
    }
    long total = 0;
    double t1 = 0;
    for (int i = 0; i < nrecv; i++) {
        total += sh->n[i];
        if (sh->t1[i] > t1) t1 = sh->t1[i];
    }
    /* One receiver: from its WARM-th message on; several: from the start. */
    double t0 = nrecv == 1 && sh->t0[0] > 0 ? sh->t0[0] : t_go;
    res->v = (double)(nrecv == 1 && sh->t0[0] > 0 ? total - WARM : total) / (t1 - t0);
    res->cpu = cpu / (double)total;
    return 0;
}

/* Semaphore ping-pong: V(0) P(1) against P(0) V(1). */
struct sarg {
    const struct sops *o;
    struct sems *s;
};
static void s_pinger(void *a, int slot) {
    struct sarg *q = a;
    long n = 0;
    while (n <= WARM || !atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
        if (n == WARM) sh->t0[slot] = now();
        if (q->o->V(q->s, 0) || q->o->P(q->s, 1)) _exit(7);
        n++;
    }
    sh->t1[slot] = now();
    sh->n[slot] = n - WARM;
    atomic_store(&sh->done[slot], 1);
    if (q->o->V(q->s, 0)) _exit(7);
}
static void s_ponger(void *a, int slot) {
    struct sarg *q = a;
    (void)slot;
    for (;;) {
        if (q->o->P(q->s, 0)) _exit(8);
        if (atomic_load(&sh->done[slot])) return;
        if (q->o->V(q->s, 1)) _exit(8);
    }
}

/* One cell: seconds per round trip (one pair, pinned as `pl` says) or,
 * oversubscribed, round trips per second of two unpinned pairs. */
static int s_cell(const struct sops *o, enum place pl, struct result *res) {
    int pairs = pl == OVER ? 2 : 1;
    struct sems s[2];
    struct sarg a[2];
    for (int i = 0; i < pairs; i++) {
        memset(&s[i], 0, sizeof s[i]);
        if (o->open(&s[i])) {
            fprintf(stderr, "matrix: %s: open: %s\n", o->name, strerror(errno));
            return -1;
        }
        a[i] = (struct sarg){o, &s[i]};
    }
    /* A pinger sets its pair's `done` before its last V: its ponger sees
     * it after that P and leaves. */
    reset_shared();
    int go[2];
    if (pipe(go)) die("pipe");
    pid_t kids[4], busy = busy_start(pl, go);
    int nk = 0;
    for (int i = 0; i < pairs; i++) {
        kids[nk++] = spawn(go, cpu_of(pl, 0), s_pinger, &a[i], i);
        kids[nk++] = spawn(go, cpu_of(pl, 1), s_ponger, &a[i], i);
    }
    double cpu;
    release(go, kids, nk, &cpu);
    busy_stop(busy);
    for (int i = 0; i < pairs; i++) o->close(&s[i]);
    if (sh->fail) {
        fprintf(stderr, "matrix: %s: a child failed\n", o->name);
        return -1;
    }
    long total = 0;
    double rate = 0;
    for (int i = 0; i < pairs; i++) {
        total += sh->n[i] + WARM;
        rate += (double)sh->n[i] / (sh->t1[i] - sh->t0[i]);
    }
    res->v = pl == OVER ? rate : (sh->t1[0] - sh->t0[0]) / (double)sh->n[0];
    res->cpu = cpu / (double)total;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Uncontended P+V in one process: seconds per pair. */

enum { U_SYSV, U_SYSV_UNDO, U_RIPC, U_RIPC_UNDO, U_SEMT, U_ATOMIC, NU };
static const char *UNAME[NU] = {"semop (kernel)", "semop SEM_UNDO (kernel)", "ripc semop", "ripc semop SEM_UNDO",
                                "sem_t wait+post", "two atomic adds"};

static double pv_once(int which) {
    static int kid = -1, rid = -1;
    static sem_t *st;
    static _Atomic long *word;
    if (kid < 0) {
        kid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
        rid = ripc_semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
        st = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (kid < 0 || rid < 0 || st == MAP_FAILED || sem_init(st, 1, 1)) die("P+V setup");
        word = (_Atomic long *)((char *)st + 2048);
        struct sembuf v = {0, 1, 0};
        if (semop(kid, &v, 1) || ripc_semop(rid, &v, 1)) die("P+V setup V");
    }
    if (which < 0) { /* clean up */
        semctl(kid, 0, IPC_RMID);
        ripc_semctl_arg(rid, 0, IPC_RMID, 0, NULL);
        sem_destroy(st);
        munmap(st, 4096);
        return 0;
    }
    short fl = which == U_SYSV_UNDO || which == U_RIPC_UNDO ? SEM_UNDO : 0;
    struct sembuf p = {0, -1, fl}, v = {0, 1, fl};
    long n = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 1000; i++) {
            int e;
            switch (which) {
            case U_SYSV:
            case U_SYSV_UNDO: e = semop(kid, &p, 1) || semop(kid, &v, 1); break;
            case U_RIPC:
            case U_RIPC_UNDO: e = ripc_semop(rid, &p, 1) || ripc_semop(rid, &v, 1); break;
            case U_SEMT: e = sem_wait(st) || sem_post(st); break;
            default:
                atomic_fetch_sub(word, 1);
                atomic_fetch_add(word, 1);
                e = 0;
            }
            if (e) die("P+V");
        }
        n += 1000;
        t = now();
    } while (t - t0 < run_s / 4);
    return (t - t0) / (double)n;
}

/* ------------------------------------------------------------------ */
/* Statistics and printing. */

struct cells {
    int ok;
    double v[MAXREPS], cpu[MAXREPS];
};

struct spread {
    double med, lo, hi;
};

static struct spread spread_of(const double *x, int n) {
    double v[MAXREPS];
    memcpy(v, x, (size_t)n * sizeof *v);
    struct spread s = {median(v, n), v[0], v[n - 1]}; /* median() sorted v */
    return s;
}

/* A figure with 3 significant digits (no exponent). */
static const char *num(char *buf, double x) {
    int digits = x >= 100 ? 0 : x >= 10 ? 1 : x >= 1 ? 2 : 3;
    snprintf(buf, 24, "%.*f", digits, x);
    return buf;
}

static void print_cell(const struct cells *c, double scale) {
    char a[24], b[24], d[24];
    if (!c->ok) {
        printf(" — |");
        return;
    }
    double v[MAXREPS];
    for (int r = 0; r < reps; r++) v[r] = c->v[r] * scale;
    struct spread s = spread_of(v, reps);
    printf(" %s (%s–%s) |", num(a, s.med), num(b, s.lo), num(d, s.hi));
}

static void print_cpu(const struct cells *c) {
    char a[24];
    if (!c->ok) {
        printf(" |");
        return;
    }
    double v[MAXREPS];
    for (int r = 0; r < reps; r++) v[r] = c->cpu[r] * 1e6;
    printf(" %s |", num(a, median(v, reps)));
}

/* Speed of column x relative to column y, per repetition: rates divide
 * x/y, times y/x. Returns the median (NAN when either is missing). */
static double ratio(const struct cells *x, const struct cells *y, int is_time, struct spread *out) {
    if (!x->ok || !y->ok) {
        *out = (struct spread){NAN, NAN, NAN};
        return NAN;
    }
    double v[MAXREPS];
    for (int r = 0; r < reps; r++) v[r] = is_time ? y->v[r] / x->v[r] : x->v[r] / y->v[r];
    *out = spread_of(v, reps);
    return out->med;
}

static void print_ratio(const struct cells *x, const struct cells *y, int is_time) {
    struct spread s;
    char a[24], b[24], d[24];
    if (isnan(ratio(x, y, is_time, &s))) {
        printf(" — |");
        return;
    }
    printf(" %s× (%s–%s) |", num(a, s.med), num(b, s.lo), num(d, s.hi));
}

/* ------------------------------------------------------------------ */
/* The targets of issue 17, checked against this run's medians. */

static int nmissed, nmet;

static void target(const char *what, double got, double want, int at_least) {
    char a[24], b[24];
    int ok = at_least ? got >= want : got <= want;
    if (isnan(got)) {
        printf("- %s: not measured\n", what);
        return;
    }
    ok ? nmet++ : nmissed++;
    printf("- %s: %s (target %s %s) — %s\n", what, num(a, got), at_least ? "≥" : "≤", num(b, want),
           ok ? "met" : "**not met**");
}

/* ------------------------------------------------------------------ */

struct qfig {
    const char *title;
    enum shape shape;
    size_t size;
    struct cells c[NPLACE][NQ];
};

static int place_ok(enum place pl) { return pl != EACH || cpu_b >= 0; }

/* Whether BENCH_ONLY (a comma-separated list of figure keys) names `key`;
 * everything runs when it is unset or empty. */
static int want(const char *key) {
    const char *l = getenv("BENCH_ONLY");
    if (!l || !*l) return 1;
    size_t n = strlen(key);
    for (const char *p = l; (p = strstr(p, key)) != NULL; p += n)
        if ((p == l || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return 1;
    return 0;
}

static void run_qfig(struct qfig *f, const enum place *pls, int npl) {
    struct result r;
    for (int rep = -1; rep < reps; rep++) { /* rep -1: warm-up */
        for (int k = 0; k < npl; k++) {
            enum place pl = pls[k];
            if (!place_ok(pl)) continue;
            for (int q = 0; q < NQ; q++) {
                struct cells *c = &f->c[pl][q];
                const struct qops *o = &QOPS[q];
                if (o->skip || (f->shape == MPMC && !o->mpmc) || (pl == BUSY && q == Q_RING)) continue;
                if (rep == -1) c->ok = 1;
                if (!c->ok) continue;
                double keep = run_s;
                if (rep == -1) run_s /= 4;
                int e = q_cell(o, f->shape, f->size, pl, &r);
                run_s = keep;
                if (e) {
                    c->ok = 0;
                    continue;
                }
                if (rep >= 0) {
                    c->v[rep] = r.v;
                    c->cpu[rep] = r.cpu;
                }
            }
        }
    }
}

static void print_qfig(struct qfig *f, const enum place *pls, int npl) {
    int is_time = f->shape == PINGPONG;
    printf("\n### %s — %s, median (min–max) of %d\n\n", f->title,
           is_time ? "µs per round trip" : "M messages/s", reps);
    printf("| placement |");
    for (int q = 0; q < NQ; q++) printf(" %s |", QOPS[q].name);
    printf(" ripc / kernel | ripc / Boost | ripc / ideal ring |\n|---|");
    for (int q = 0; q < NQ + 3; q++) printf("---|");
    printf("\n");
    for (int k = 0; k < npl; k++) {
        enum place pl = pls[k];
        if (!place_ok(pl)) continue;
        struct cells *c = f->c[pl];
        printf("| %s |", PLACE[pl]);
        for (int q = 0; q < NQ; q++) print_cell(&c[q], is_time ? 1e6 : 1e-6);
        print_ratio(&c[Q_RIPC], &c[Q_SYSV], is_time);
        print_ratio(&c[Q_RIPC], &c[Q_BOOST], is_time);
        print_ratio(&c[Q_RIPC], &c[Q_RING], is_time);
        printf("\n| … CPU µs per %s |", is_time ? "round trip" : "message");
        for (int q = 0; q < NQ; q++) print_cpu(&c[q]);
        printf(" | | |\n");
    }
    fflush(stdout);
}

static double qratio(struct qfig *f, enum place pl, int q) {
    struct spread s;
    return ratio(&f->c[pl][Q_RIPC], &f->c[pl][q], f->shape == PINGPONG, &s);
}

int main(void) {
    const char *e;
    int quick = (e = getenv("BENCH_QUICK")) && *e && strcmp(e, "0");
    if (quick) {
        reps = 3;
        run_s = 0.05;
    }
    if ((e = getenv("BENCH_REPS")) && atoi(e) >= 1 && atoi(e) <= MAXREPS) reps = atoi(e);
    if ((e = getenv("BENCH_MS")) && atoi(e) >= 5) run_s = atoi(e) / 1000.0;
    const char *dir = bench_private_ns(); /* before the first ripc call */
    signal(SIGPIPE, SIG_IGN);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) die("mmap");
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set)) die("sched_getaffinity");
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &set)) {
            if (cpu_a < 0)
                cpu_a = i;
            else if (cpu_b < 0)
                cpu_b = i;
        }
    double t_start = now();
    printf("# placement matrix (docs/perf.md): %d runs of %.0f ms per cell, columns alternating; ripc: user engine, "
           "RIPC_DIR=%s\n",
           reps, run_s * 1e3, dir);
    printf("# a CPU each: CPUs %d and %d; one CPU for both: CPU %d; one CPU + a busy task: CPU %d shared with a "
           "process looping there (ping-pong figures); oversubscribed: unpinned, 4 senders + 4 receivers on one "
           "queue (64 B) or 2 semaphore ping-pong pairs\n",
           cpu_a, cpu_b, cpu_a, cpu_a);
    printf("# ratios: speed of ripc relative to the column (> 1: ripc faster), median (min–max) of the "
           "per-run ratios\n");
    if (cpu_b < 0) printf("# only one CPU available: no 'a CPU each' row\n");
    if (QOPS[Q_BOOST].skip) printf("# Boost.Interprocess skipped: %s\n", QOPS[Q_BOOST].skip);
    fflush(stdout);

    static const enum place pinned[] = {EACH, ONE, FREE}, over[] = {OVER};
    static struct qfig st[3] = {{"stream 64 B", STREAM, 64, {{{0}}}},
                                {"stream 1 KiB", STREAM, 1024, {{{0}}}},
                                {"stream 8 KiB", STREAM, 8192, {{{0}}}}};
    static const char *stkey[3] = {"stream64", "stream1k", "stream8k"};
    for (int i = 0; i < 3; i++) {
        if (!want(stkey[i])) continue;
        run_qfig(&st[i], pinned, 3);
        print_qfig(&st[i], pinned, 3);
    }
    static struct qfig pp = {"ping-pong 64 B", PINGPONG, 64, {{{0}}}};
    static const enum place pp_rows[] = {EACH, ONE, BUSY, FREE};
    if (want("pingpong")) {
        run_qfig(&pp, pp_rows, 4);
        print_qfig(&pp, pp_rows, 4);
    }
    static struct qfig mp = {"oversubscribed: 4 senders + 4 receivers, one queue, 64 B", MPMC, 64, {{{0}}}};
    if (want("over44")) {
        run_qfig(&mp, over, 1);
        print_qfig(&mp, over, 1);
    }

    /* Semaphore ping-pong: pinned rows in µs per round trip, the
     * oversubscribed row in round trips per second (two pairs). */
    static struct cells sc[NPLACE][NS];
    static const enum place all[] = {EACH, ONE, BUSY, FREE, OVER};
    struct result r;
    for (int rep = -1; rep < (want("sem") ? reps : -1); rep++)
        for (int k = 0; k < 5; k++) {
            if (!place_ok(all[k])) continue;
            for (int s = 0; s < NS; s++) {
                struct cells *c = &sc[all[k]][s];
                if (all[k] == BUSY && s == S_FLOOR) continue;
                if (rep == -1) c->ok = 1;
                if (!c->ok) continue;
                double keep = run_s;
                if (rep == -1) run_s /= 4;
                int err = s_cell(&SOPS[s], all[k], &r);
                run_s = keep;
                if (err) c->ok = 0;
                else if (rep >= 0) {
                    c->v[rep] = r.v;
                    c->cpu[rep] = r.cpu;
                }
            }
        }
    printf("\n### semaphore ping-pong — µs per round trip (oversubscribed: 2 pairs, k round trips/s in all), "
           "median (min–max) of %d\n\n| placement |",
           reps);
    for (int s = 0; s < NS; s++) printf(" %s |", SOPS[s].name);
    printf(" ripc / kernel | ripc / sem_t | ripc / floor |\n|---|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < 5; k++) {
        enum place pl = all[k];
        if (!place_ok(pl)) continue;
        int is_time = pl != OVER;
        printf("| %s |", PLACE[pl]);
        for (int s = 0; s < NS; s++) print_cell(&sc[pl][s], is_time ? 1e6 : 1e-3);
        print_ratio(&sc[pl][S_RIPC], &sc[pl][S_SYSV], is_time);
        print_ratio(&sc[pl][S_RIPC], &sc[pl][S_SEMT], is_time);
        print_ratio(&sc[pl][S_RIPC], &sc[pl][S_FLOOR], is_time);
        printf("\n| … CPU µs per round trip |");
        for (int s = 0; s < NS; s++) print_cpu(&sc[pl][s]);
        printf(" | | |\n");
    }
    fflush(stdout);

    /* Uncontended P+V. */
    static struct cells uc[NU];
    for (int rep = -1; rep < (want("pv") ? reps : -1); rep++)
        for (int u = 0; u < NU; u++) {
            double t = pv_once(u);
            if (rep >= 0) uc[u].v[rep] = t;
            uc[u].ok = 1;
        }
    if (want("pv")) pv_once(-1);
    printf("\n### uncontended P+V, one process — ns per pair, median (min–max) of %d\n\n| |", reps);
    for (int u = 0; u < NU; u++) printf(" %s |", UNAME[u]);
    printf("\n|---|---|---|---|---|---|---|\n| ns |");
    for (int u = 0; u < NU; u++) print_cell(&uc[u], 1e9);
    printf("\n\n| ripc | / kernel | / sem_t | / two atomic adds |\n|---|---|---|---|\n| semop |");
    print_ratio(&uc[U_RIPC], &uc[U_SYSV], 1);
    print_ratio(&uc[U_RIPC], &uc[U_SEMT], 1);
    print_ratio(&uc[U_RIPC], &uc[U_ATOMIC], 1);
    printf("\n| semop SEM_UNDO |");
    print_ratio(&uc[U_RIPC_UNDO], &uc[U_SYSV_UNDO], 1);
    print_ratio(&uc[U_RIPC_UNDO], &uc[U_SEMT], 1);
    print_ratio(&uc[U_RIPC_UNDO], &uc[U_ATOMIC], 1);
    printf("\n");

    /* Issue 17's targets, from this run's median ratios. */
    printf("\n### issue 17 targets in this run (speed ratios, > 1: ripc faster)\n\n");
    const char *sz[3] = {"64 B", "1 KiB", "8 KiB"};
    char what[160];
    static const enum place loaded[] = {ONE, BUSY, OVER};
    for (int k = 0; k < 3; k++) {
        enum place pl = loaded[k];
        if (pl == BUSY) {
            snprintf(what, sizeof what, "%s: ping-pong, ripc / kernel", PLACE[pl]);
            target(what, qratio(&pp, pl, Q_SYSV), 1.0, 1);
        } else if (pl == ONE) {
            for (int i = 0; i < 3; i++) {
                snprintf(what, sizeof what, "%s: stream %s, ripc / kernel", PLACE[pl], sz[i]);
                target(what, qratio(&st[i], pl, Q_SYSV), 1.0, 1);
                snprintf(what, sizeof what, "%s: stream %s, ripc / Boost", PLACE[pl], sz[i]);
                target(what, qratio(&st[i], pl, Q_BOOST), 1.0, 1);
            }
            snprintf(what, sizeof what, "%s: ping-pong, ripc / kernel", PLACE[pl]);
            target(what, qratio(&pp, pl, Q_SYSV), 1.0, 1);
            snprintf(what, sizeof what, "%s: ping-pong, ripc / Boost", PLACE[pl]);
            target(what, qratio(&pp, pl, Q_BOOST), 1.0, 1);
        } else {
            snprintf(what, sizeof what, "%s: 4+4 on one queue, ripc / kernel", PLACE[pl]);
            target(what, qratio(&mp, pl, Q_SYSV), 1.0, 1);
            snprintf(what, sizeof what, "%s: 4+4 on one queue, ripc / Boost", PLACE[pl]);
            target(what, qratio(&mp, pl, Q_BOOST), 1.0, 1);
        }
        struct spread s;
        snprintf(what, sizeof what, "%s: semaphore ping-pong, ripc / kernel", PLACE[pl]);
        target(what, ratio(&sc[pl][S_RIPC], &sc[pl][S_SYSV], pl != OVER, &s), 1.0, 1);
    }
    if (place_ok(EACH)) {
        const double ring_want[3] = {0.5, 0.5, 0.8};
        for (int i = 0; i < 3; i++) {
            snprintf(what, sizeof what, "a CPU each: stream %s, ripc / ideal ring", sz[i]);
            target(what, qratio(&st[i], EACH, Q_RING), ring_want[i], 1);
            snprintf(what, sizeof what, "a CPU each: stream %s, ripc / Boost", sz[i]);
            target(what, qratio(&st[i], EACH, Q_BOOST), 2.0, 1);
        }
        target("a CPU each: ping-pong round trip, ripc / spinning floor (as a time ratio)",
               1.0 / qratio(&pp, EACH, Q_RING), 2.0, 0);
    }
    struct spread s;
    target("P+V, ripc / sem_t (as a time ratio)", 1.0 / ratio(&uc[U_RIPC], &uc[U_SEMT], 1, &s), 2.0, 0);
    target("P+V with SEM_UNDO, ripc / sem_t (as a time ratio)", 1.0 / ratio(&uc[U_RIPC_UNDO], &uc[U_SEMT], 1, &s),
           3.0, 0);
    printf("\n# targets met: %d, not met: %d; matrix total %.0f s\n", nmet, nmissed, now() - t_start);
    bench_remove_ns();
    return 0;
}
