/* pipe_signal — ripc's pipe and signal wrappers against the raw system
 * calls, in the same run, on the same pipes and processes:
 *
 *   pipe ping-pong 64B     two processes, two pipes, one 64-byte message
 *                          each way per round trip (us per round trip)
 *   pipe throughput 64KiB  one writer, one reader, 64 KiB writes (MB/s;
 *                          the ratio is time ripc / time raw)
 *   signal round-trip      RT signal to a child and back, both sides
 *                          blocking it and waiting: sigqueue+sigwaitinfo vs
 *                          ripc_signal_send+ripc_signal_wait (with payload),
 *                          and kill+sigwaitinfo vs ripc_signal_kill+wait
 *   fifo timed open        one process, a reader holding the FIFO open:
 *                          open(O_WRONLY)+close vs a timed ripc_fifo_open
 *                          for writing + ripc_pipe_free (us per open)
 *   signal callback trip   the child answers from a handler: raw
 *                          async-signal-safe sigaction handler vs a ripc
 *                          callback on the dispatcher thread (a different
 *                          mechanism, not a wrapper: one extra thread hop)
 *
 * Every figure is taken in two placements, stated on its line: "one CPU"
 * pins parent and child to the first CPU the process may use, "a CPU
 * each" pins the parent there and the child to the second
 * (sched_setaffinity). One CPU shows a wrapper's cost best: no wake-up
 * crosses CPUs (on a virtual machine that costs tens of microseconds and
 * varies widely, burying a few nanoseconds). The wrapper benchmarks alternate raw
 * and ripc in short blocks inside the same pair of processes (both sides
 * follow the same schedule), in pairs ordered raw-ripc, ripc-raw, ... so
 * that a drift during the run favours neither; each line gives the median
 * of each variant with its 25-75 % range, the ratio of the medians, and
 * the median and 25-75 % range of the per-pair ratios (each ripc block
 * against the raw block beside it): the spread to read a ratio against.
 * No arguments; finishes in about 15 s (BENCH_QUICK=1: 5 pairs of
 * blocks instead of 31, a smoke run).
 *
 * pipe_signal --only pingpong|throughput [one|each]: that row alone, in
 * one placement (default one CPU): for comparing two builds of the
 * library, run alternately, without the other rows' minutes.
 *
 * pipe_signal --count raw|ripc|locked[-mt] N: one process, one pipe, N
 * writes of 64 bytes each read back at once, then the ns per pair: for
 * counting user-space instructions per pair with callgrind, and for timing
 * the wrapper without a context switch ("locked": raw calls with two
 * locked read-modify-writes around each, as ripc's handle count; "-mt":
 * with a second thread sleeping, as in a multi-threaded program, where
 * read and write switch cancellation around the system call; see
 * docs/pipes-signals.md, "Cost" and "pthread_cancel").
 */
#include <fcntl.h>
#include <pthread.h>
#include <ripc.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "bench.h"
#include <unistd.h>

#define BLOCKS 31 /* per variant, alternating (BENCH_QUICK: 5) */
static int blocks = BLOCKS;
#define CB_RUNS_MAX 5

static double now_us(void) { return now() * 1e6; }

/* ---------- placement ---------- */
static int cpu_first, cpu_second; /* the first two CPUs we may use */
static int child_cpu;             /* the child's CPU in the current placement */
static const char *placement;

static void find_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set)) die("sched_getaffinity");
    cpu_first = cpu_second = -1;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &set)) continue;
        if (cpu_first < 0)
            cpu_first = c;
        else if (cpu_second < 0) {
            cpu_second = c;
            break;
        }
    }
    if (cpu_second < 0) cpu_second = cpu_first; /* one CPU: both placements are one */
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set)) die("sched_setaffinity");
}

/* The parent stays on the first CPU; children pin themselves to child_cpu. */
static void place(int one_cpu) {
    child_cpu = one_cpu ? cpu_first : cpu_second;
    placement = one_cpu || cpu_second == cpu_first ? "one CPU" : "a CPU each";
}

/* Forks a child pinned to child_cpu. */
static pid_t fork_pinned(void) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) pin(child_cpu);
    return pid;
}

/* ---------- the schedule and the report ---------- */

/* Blocks 0 and 1 warm up (raw, ripc); then `blocks` pairs, ordered
 * raw-ripc in even pairs and ripc-raw in odd ones. */
#define TOTAL_BLOCKS (2 * blocks + 2)
static int use_ripc(int k) {
    if (k < 2) return k;
    return ((k - 2) & 1) ^ (((k - 2) / 2) & 1);
}

/* Records block k's time in its pair (warm-up blocks are dropped). */
static void record(double *raw, double *rip, int k, double t) {
    if (k >= 2) (use_ripc(k) ? rip : raw)[(k - 2) / 2] = t;
}

/* The q-quantile of sorted v[0..n) (nearest rank). */
static double quantile(const double *v, int n, double q) {
    int i = (int)(q * (n - 1) + 0.5);
    return v[i];
}

/* raw[i] and rip[i] are pair i's two blocks (times; with scale > 0 the
 * line shows scale / time, a rate). */
static void report(const char *name, double *raw, double *rip, int n, const char *unit, double scale) {
    double ratio[BLOCKS > CB_RUNS_MAX ? BLOCKS : CB_RUNS_MAX];
    for (int i = 0; i < n; i++) ratio[i] = rip[i] / raw[i];
    double mr = median(raw, n), mw = median(rip, n), pr = median(ratio, n);
    /* (median() sorted the arrays) */
    double r25 = quantile(raw, n, .25), r75 = quantile(raw, n, .75);
    double w25 = quantile(rip, n, .25), w75 = quantile(rip, n, .75);
    if (scale > 0) {
        double t = r25;
        r25 = scale / r75, r75 = scale / t;
        t = w25;
        w25 = scale / w75, w75 = scale / t;
        mr = scale / mr, mw = scale / mw;
    }
    int dec = scale > 0 ? 0 : 2;
    char what[64];
    snprintf(what, sizeof what, "%s %s:", name, placement);
    printf("%-38s raw %8.*f %s (%.*f-%.*f) ripc %8.*f %s (%.*f-%.*f) ratio %.3f pairs %.3f (%.3f-%.3f)\n", what, dec,
           mr, unit, dec, r25, dec, r75, dec, mw, unit, dec, w25, dec, w75,
           scale > 0 ? (scale / mw) / (scale / mr) : mw / mr, pr, quantile(ratio, n, .25), quantile(ratio, n, .75));
    fflush(stdout);
}

/* ---------- pipe ping-pong ---------- */
enum { PP_ITERS = 800, MSG = 64 };

static void pingpong(void) {
    struct ripc_pipe *a = ripc_pipe_new(0), *b = ripc_pipe_new(0);
    if (!a || !b) die("ripc_pipe_new");
    int aw = ripc_pipe_fd(a, RIPC_PIPE_WRITE), ar = ripc_pipe_fd(a, RIPC_PIPE_READ);
    int bw = ripc_pipe_fd(b, RIPC_PIPE_WRITE), br = ripc_pipe_fd(b, RIPC_PIPE_READ);
    char buf[MSG] = {0};
    pid_t pid = fork_pinned();
    if (pid == 0) {
        for (int k = 0; k < TOTAL_BLOCKS; k++) {
            for (int i = 0; i < PP_ITERS; i++) {
                if (use_ripc(k)) {
                    if (ripc_pipe_read(a, buf, MSG) != MSG || ripc_pipe_write(b, buf, MSG) != MSG) _exit(1);
                } else {
                    if (read(ar, buf, MSG) != MSG || write(bw, buf, MSG) != MSG) _exit(1);
                }
            }
        }
        _exit(0);
    }
    double raw[BLOCKS], rip[BLOCKS];
    for (int k = 0; k < TOTAL_BLOCKS; k++) {
        double t0 = now_us();
        for (int i = 0; i < PP_ITERS; i++) {
            if (use_ripc(k)) {
                if (ripc_pipe_write(a, buf, MSG) != MSG || ripc_pipe_read(b, buf, MSG) != MSG) die("ripc ping-pong");
            } else {
                if (write(aw, buf, MSG) != MSG || read(br, buf, MSG) != MSG) die("raw ping-pong");
            }
        }
        double t = (now_us() - t0) / PP_ITERS;
        record(raw, rip, k, t);
    }
    waitpid(pid, NULL, 0);
    ripc_pipe_free(a);
    ripc_pipe_free(b);
    report("pipe ping-pong 64B", raw, rip, blocks, "us", 0);
}

/* ---------- pipe throughput ---------- */
enum { CHUNK = 64 * 1024, BLOCK_MB = 4 };
static char chunk[CHUNK], sink[CHUNK];

static void throughput(void) {
    struct ripc_pipe *p = ripc_pipe_new(0);
    if (!p) die("ripc_pipe_new");
    int wfd = ripc_pipe_fd(p, RIPC_PIPE_WRITE), rfd = ripc_pipe_fd(p, RIPC_PIPE_READ);
    long per = (long)BLOCK_MB << 20;
    pid_t pid = fork_pinned();
    if (pid == 0) {
        for (int k = 0; k < TOTAL_BLOCKS; k++) {
            for (long done = 0; done < per;) {
                ssize_t n = use_ripc(k) ? ripc_pipe_write(p, chunk, CHUNK) : write(wfd, chunk, CHUNK);
                if (n <= 0) _exit(1);
                done += n;
            }
        }
        _exit(0);
    }
    double raw[BLOCKS], rip[BLOCKS];
    for (int k = 0; k < TOTAL_BLOCKS; k++) {
        double t0 = now_us();
        for (long got = 0; got < per;) {
            size_t want = per - got < CHUNK ? (size_t)(per - got) : CHUNK;
            ssize_t n = use_ripc(k) ? ripc_pipe_read(p, sink, want) : read(rfd, sink, want);
            if (n <= 0) die("throughput read");
            got += n;
        }
        double t = now_us() - t0;
        record(raw, rip, k, t);
    }
    waitpid(pid, NULL, 0);
    ripc_pipe_free(p);
    report("pipe throughput 64KiB", raw, rip, blocks, "MB/s", (double)per);
}

/* ---------- FIFO open, a reader already there ---------- */
enum { FIFO_ITERS = 200 };

/* One process: a reader holds the FIFO open; each iteration opens it for
 * writing and closes it: open(O_WRONLY) + close against
 * ripc_fifo_open(path, RIPC_PIPE_WRITE, 0, 1000) + ripc_pipe_free (a
 * timed open, the kind that may need a helper thread). */
static void fifo_open_cost(void) {
    char dir[] = "/tmp/ripc-bench-fifo.XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp");
    char path[sizeof dir + 8];
    snprintf(path, sizeof path, "%s/fifo", dir);
    if (ripc_fifo_create(path, 0600, 0)) die("ripc_fifo_create");
    struct ripc_pipe *r = ripc_fifo_open(path, RIPC_PIPE_READ, RIPC_PIPE_NONBLOCK, -1);
    if (!r) die("reader");
    double raw[BLOCKS], rip[BLOCKS];
    for (int k = 0; k < TOTAL_BLOCKS; k++) {
        double t0 = now_us();
        for (int i = 0; i < FIFO_ITERS; i++) {
            if (use_ripc(k)) {
                struct ripc_pipe *w = ripc_fifo_open(path, RIPC_PIPE_WRITE, 0, 1000);
                if (!w) die("ripc_fifo_open");
                ripc_pipe_free(w);
            } else {
                int fd = open(path, O_WRONLY | O_CLOEXEC);
                if (fd < 0) die("open");
                close(fd);
            }
        }
        record(raw, rip, k, (now_us() - t0) / FIFO_ITERS);
    }
    ripc_pipe_free(r);
    unlink(path);
    rmdir(dir);
    report("fifo timed open, reader there", raw, rip, blocks, "us", 0);
}

/* ---------- signal round trip, both sides waiting ---------- */
enum { SIG_ITERS = 400 };
static sigset_t rtset;
static int rtsig;

static void sigrt(int with_payload) {
    pid_t parent = getpid();
    pid_t pid = fork_pinned();
    if (pid == 0) {
        siginfo_t si;
        struct ripc_siginfo info;
        for (int k = 0; k < TOTAL_BLOCKS; k++) {
            for (int i = 0; i < SIG_ITERS; i++) {
                int ok;
                if (use_ripc(k))
                    ok = ripc_signal_wait(&rtset, &info, -1) == rtsig &&
                         (with_payload ? ripc_signal_send(parent, rtsig, info.value)
                                       : ripc_signal_kill(parent, rtsig)) == 0;
                else
                    ok = sigwaitinfo(&rtset, &si) == rtsig &&
                         (with_payload ? sigqueue(parent, rtsig, si.si_value) : kill(parent, rtsig)) == 0;
                if (!ok) _exit(1);
            }
        }
        _exit(0);
    }
    double raw[BLOCKS], rip[BLOCKS];
    siginfo_t si;
    struct ripc_siginfo info;
    for (int k = 0; k < TOTAL_BLOCKS; k++) {
        double t0 = now_us();
        for (int i = 0; i < SIG_ITERS; i++) {
            int ok;
            if (use_ripc(k)) {
                ok = (with_payload ? ripc_signal_send(pid, rtsig, i) : ripc_signal_kill(pid, rtsig)) == 0 &&
                     ripc_signal_wait(&rtset, &info, -1) == rtsig;
            } else {
                union sigval v = {.sival_int = i};
                ok = (with_payload ? sigqueue(pid, rtsig, v) : kill(pid, rtsig)) == 0 &&
                     sigwaitinfo(&rtset, &si) == rtsig;
            }
            if (!ok) die("signal round trip");
        }
        double t = (now_us() - t0) / SIG_ITERS;
        record(raw, rip, k, t);
    }
    waitpid(pid, NULL, 0);
    report(with_payload ? "signal round-trip (queue)" : "signal round-trip (kill)", raw, rip, blocks, "us", 0);
}

/* ---------- signal answered from a handler / callback ---------- */
enum { CB_ITERS = 2000, CB_RUNS = CB_RUNS_MAX };
static pid_t answer_to;

static void raw_handler(int sig, siginfo_t *si, void *ctx) {
    (void)ctx;
    sigqueue(answer_to, sig, si->si_value); /* async-signal-safe */
}

static void ripc_callback(const struct ripc_siginfo *info, void *user) {
    (void)user;
    ripc_signal_send(answer_to, info->signo, info->value);
}

static double sigcb(int use_ripc) {
    answer_to = getpid();
    int ready[2];
    if (pipe(ready)) die("pipe");
    pid_t pid = fork_pinned();
    if (pid == 0) {
        if (use_ripc) {
            if (ripc_signal_handle(rtsig, ripc_callback, NULL, RIPC_SIGNAL_RESTART)) _exit(1);
        } else {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_sigaction = raw_handler;
            sa.sa_flags = SA_SIGINFO | SA_RESTART;
            sigaction(rtsig, &sa, NULL);
        }
        sigprocmask(SIG_UNBLOCK, &rtset, NULL);
        if (write(ready[1], "r", 1) != 1) _exit(1);
        for (;;) pause();
    }
    char c;
    if (read(ready[0], &c, 1) != 1) die("child start");
    close(ready[0]), close(ready[1]);
    double t0 = now_us();
    for (int i = 0; i < CB_ITERS; i++) {
        union sigval v = {.sival_int = i};
        if (sigqueue(pid, rtsig, v) != 0 || sigwaitinfo(&rtset, NULL) != rtsig) die("callback trip");
    }
    double t = (now_us() - t0) / CB_ITERS;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return t;
}

/* --count raw|ripc|locked[-mt] N: N pairs of a 64-byte write and its read, one
 * process, one pipe, for callgrind, or timed (prints ns per pair).
 * "locked" is raw with two locked read-modify-write instructions around
 * each call, as ripc's handle count in and out: what those cost alone. */
static long lock_word;

static void *idle_thread(void *arg) {
    (void)arg;
    for (;;) pause();
    return NULL;
}

static int count(const char *which, long n) {
    /* "-mt": a second thread sleeps in pause() first, so the C library
     * and ripc take their multi-threaded paths (the cancellation switch). */
    size_t len = strlen(which);
    int mt = len > 3 && !strcmp(which + len - 3, "-mt");
    char base[16];
    snprintf(base, sizeof base, "%.*s", (int)(mt ? len - 3 : len), which);
    int mode = !strcmp(base, "raw") ? 0 : !strcmp(base, "ripc") ? 1 : !strcmp(base, "locked") ? 2 : -1;
    if (mode < 0) return 2;
    pthread_t idle;
    if (mt && pthread_create(&idle, NULL, idle_thread, NULL)) die("pthread_create");
    struct ripc_pipe *p = ripc_pipe_new(0);
    if (!p) die("ripc_pipe_new");
    int wfd = ripc_pipe_fd(p, RIPC_PIPE_WRITE), rfd = ripc_pipe_fd(p, RIPC_PIPE_READ);
    char buf[MSG] = {0};
    double t0 = now();
    for (long i = 0; i < n; i++) {
        if (mode == 1) {
            if (ripc_pipe_write(p, buf, MSG) != MSG || ripc_pipe_read(p, buf, MSG) != MSG) die("ripc pair");
        } else if (mode == 2) {
            __atomic_fetch_add(&lock_word, 1, __ATOMIC_ACQUIRE);
            ssize_t w = write(wfd, buf, MSG);
            __atomic_fetch_sub(&lock_word, 1, __ATOMIC_RELEASE);
            __atomic_fetch_add(&lock_word, 1, __ATOMIC_ACQUIRE);
            ssize_t r = read(rfd, buf, MSG);
            __atomic_fetch_sub(&lock_word, 1, __ATOMIC_RELEASE);
            if (w != MSG || r != MSG) die("locked pair");
        } else {
            if (write(wfd, buf, MSG) != MSG || read(rfd, buf, MSG) != MSG) die("raw pair");
        }
    }
    printf("%s %.0f ns per pair\n", which, (now() - t0) / (double)n * 1e9);
    ripc_pipe_free(p);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--count") == 0) return count(argv[2], atol(argv[3]));
    void (*only)(void) = NULL;
    int only_one_cpu = 1;
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "--only") == 0) {
        only = !strcmp(argv[2], "pingpong") ? pingpong : !strcmp(argv[2], "throughput") ? throughput : NULL;
        if (argc == 4) only_one_cpu = !strcmp(argv[3], "one") ? 1 : !strcmp(argv[3], "each") ? 0 : -1;
    }
    if (argc != 1 && (!only || only_one_cpu < 0)) {
        fprintf(stderr, "usage: %s [--count raw|ripc|locked[-mt] N | --only pingpong|throughput [one|each]]\n", argv[0]);
        return 2;
    }
    rtsig = SIGRTMIN;
    sigemptyset(&rtset);
    sigaddset(&rtset, rtsig);
    sigprocmask(SIG_BLOCK, &rtset, NULL); /* children inherit it */
    memset(chunk, 'x', sizeof chunk);
    find_cpus();
    pin(cpu_first);
    const char *quick = getenv("BENCH_QUICK");
    if (quick && *quick && strcmp(quick, "0")) blocks = 5; /* a smoke run, not figures to quote */
    printf("# ripc pipes and signals vs raw syscalls: medians of %d alternating blocks each\n", blocks);
    printf("# (25-75 %% range in brackets); parent on CPU %d, child on CPU %d (a CPU each) or %d (one CPU)\n",
           cpu_first, cpu_second, cpu_first);
    printf("# ratio = ripc time / raw time of the medians (1.00 = same cost); pairs = the per-pair ratios\n");
    if (only) {
        place(only_one_cpu);
        only();
        return 0;
    }
    place(1);
    fifo_open_cost();
    for (int one_cpu = 1; one_cpu >= 0; one_cpu--) {
        place(one_cpu);
        pingpong();
        throughput();
        sigrt(1);
        sigrt(0);
    }
    printf("# next: a different mechanism, not a wrapper (callback in thread context:\n"
           "# handler -> self-pipe -> dispatcher thread), shown for its cost\n");
    for (int one_cpu = 1; one_cpu >= 0; one_cpu--) {
        place(one_cpu);
        double raw[CB_RUNS], rip[CB_RUNS];
        for (int i = 0; i < CB_RUNS; i++) {
            if (i & 1) {
                rip[i] = sigcb(1);
                raw[i] = sigcb(0);
            } else {
                raw[i] = sigcb(0);
                rip[i] = sigcb(1);
            }
        }
        report("signal callback trip", raw, rip, CB_RUNS, "us", 0);
    }
    return 0;
}
