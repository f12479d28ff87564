/* pipe_signal — ripc's pipe and signal wrappers against the raw system
 * calls, in the same run, as medians of several alternating runs:
 *
 *   pipe ping-pong 64B     two processes, two pipes, one 64-byte message
 *                          each way per round trip (us per round trip)
 *   pipe throughput 64KiB  one writer, one reader, 64 KiB writes (MB/s;
 *                          the ratio is time ripc / time raw)
 *   signal round-trip      RT signal to a child and back, both sides
 *                          blocking it and waiting: sigqueue+sigwaitinfo vs
 *                          ripc_signal_send+ripc_signal_wait (with payload),
 *                          and kill+sigwaitinfo vs ripc_signal_kill+wait
 *   signal callback trip   the child answers from a handler: raw
 *                          async-signal-safe sigaction handler vs a ripc
 *                          callback on the dispatcher thread (a different
 *                          mechanism, not a wrapper: one extra thread hop)
 *
 * No arguments; finishes in a few seconds. Prints its own table.
 */
#include <ripc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNS 7

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* ---------- pipe ping-pong ---------- */
enum { PP_ITERS = 20000, MSG = 64 };

static double pingpong_raw(void) {
    int a[2], b[2];
    char buf[MSG] = {0};
    if (pipe(a) || pipe(b)) die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < PP_ITERS; i++) {
            if (read(a[0], buf, MSG) != MSG || write(b[1], buf, MSG) != MSG) _exit(1);
        }
        _exit(0);
    }
    double t0 = now_us();
    for (int i = 0; i < PP_ITERS; i++) {
        if (write(a[1], buf, MSG) != MSG || read(b[0], buf, MSG) != MSG) die("raw ping-pong");
    }
    double t = (now_us() - t0) / PP_ITERS;
    waitpid(pid, NULL, 0);
    close(a[0]), close(a[1]), close(b[0]), close(b[1]);
    return t;
}

static double pingpong_ripc(void) {
    struct ripc_pipe *a = ripc_pipe_new(0), *b = ripc_pipe_new(0);
    char buf[MSG] = {0};
    if (!a || !b) die("ripc_pipe_new");
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < PP_ITERS; i++) {
            if (ripc_pipe_read(a, buf, MSG) != MSG || ripc_pipe_write(b, buf, MSG) != MSG) _exit(1);
        }
        _exit(0);
    }
    double t0 = now_us();
    for (int i = 0; i < PP_ITERS; i++) {
        if (ripc_pipe_write(a, buf, MSG) != MSG || ripc_pipe_read(b, buf, MSG) != MSG)
            die("ripc ping-pong");
    }
    double t = (now_us() - t0) / PP_ITERS;
    waitpid(pid, NULL, 0);
    ripc_pipe_free(a);
    ripc_pipe_free(b);
    return t;
}

/* ---------- pipe throughput ---------- */
enum { CHUNK = 64 * 1024, TOTAL_MB = 128 };
static char chunk[CHUNK], sink[CHUNK];

/* Returns the transfer time in us (the reader, in this process, times it). */
static double throughput_raw(void) {
    int p[2];
    if (pipe(p)) die("pipe");
    long total = (long)TOTAL_MB << 20;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        for (long done = 0; done < total;) {
            ssize_t n = write(p[1], chunk, CHUNK);
            if (n <= 0) _exit(1);
            done += n;
        }
        _exit(0);
    }
    close(p[1]);
    double t0 = now_us();
    long got = 0;
    ssize_t n;
    while ((n = read(p[0], sink, CHUNK)) > 0) got += n;
    double t = now_us() - t0;
    if (got != total) die("raw throughput");
    waitpid(pid, NULL, 0);
    close(p[0]);
    return t;
}

static double throughput_ripc(void) {
    struct ripc_pipe *p = ripc_pipe_new(0);
    if (!p) die("ripc_pipe_new");
    long total = (long)TOTAL_MB << 20;
    pid_t pid = ripc_pipe_fork(p, RIPC_PIPE_WRITE, -1);
    if (pid == 0) {
        for (long done = 0; done < total;) {
            ssize_t n = ripc_pipe_write(p, chunk, CHUNK);
            if (n <= 0) _exit(1);
            done += n;
        }
        _exit(0);
    }
    double t0 = now_us();
    long got = 0;
    ssize_t n;
    while ((n = ripc_pipe_read(p, sink, CHUNK)) > 0) got += n;
    double t = now_us() - t0;
    if (got != total) die("ripc throughput");
    waitpid(pid, NULL, 0);
    ripc_pipe_free(p);
    return t;
}

/* ---------- signal round trip, both sides waiting ---------- */
enum { SIG_ITERS = 10000 };
static sigset_t rtset;
static int rtsig;

static double sigrt_raw_queue(void) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        siginfo_t si;
        for (int i = 0; i < SIG_ITERS; i++) {
            if (sigwaitinfo(&rtset, &si) != rtsig) _exit(1);
            if (sigqueue(parent, rtsig, si.si_value) != 0) _exit(1);
        }
        _exit(0);
    }
    siginfo_t si;
    double t0 = now_us();
    for (int i = 0; i < SIG_ITERS; i++) {
        union sigval v = {.sival_int = i};
        if (sigqueue(pid, rtsig, v) != 0 || sigwaitinfo(&rtset, &si) != rtsig) die("raw sigqueue");
    }
    double t = (now_us() - t0) / SIG_ITERS;
    waitpid(pid, NULL, 0);
    return t;
}

static double sigrt_raw_kill(void) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < SIG_ITERS; i++) {
            if (sigwaitinfo(&rtset, NULL) != rtsig || kill(parent, rtsig) != 0) _exit(1);
        }
        _exit(0);
    }
    double t0 = now_us();
    for (int i = 0; i < SIG_ITERS; i++) {
        if (kill(pid, rtsig) != 0 || sigwaitinfo(&rtset, NULL) != rtsig) die("raw kill");
    }
    double t = (now_us() - t0) / SIG_ITERS;
    waitpid(pid, NULL, 0);
    return t;
}

static double sigrt_ripc_kill(void) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < SIG_ITERS; i++) {
            if (ripc_signal_wait(&rtset, NULL, -1) != rtsig || ripc_signal_kill(parent, rtsig) != 0) _exit(1);
        }
        _exit(0);
    }
    double t0 = now_us();
    for (int i = 0; i < SIG_ITERS; i++) {
        if (ripc_signal_kill(pid, rtsig) != 0 || ripc_signal_wait(&rtset, NULL, -1) != rtsig)
            die("ripc kill");
    }
    double t = (now_us() - t0) / SIG_ITERS;
    waitpid(pid, NULL, 0);
    return t;
}

static double sigrt_ripc(void) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        struct ripc_siginfo info;
        for (int i = 0; i < SIG_ITERS; i++) {
            if (ripc_signal_wait(&rtset, &info, -1) != rtsig) _exit(1);
            if (ripc_signal_send(parent, rtsig, info.value) != 0) _exit(1);
        }
        _exit(0);
    }
    struct ripc_siginfo info;
    double t0 = now_us();
    for (int i = 0; i < SIG_ITERS; i++) {
        if (ripc_signal_send(pid, rtsig, i) != 0 || ripc_signal_wait(&rtset, &info, -1) != rtsig)
            die("ripc signal");
    }
    double t = (now_us() - t0) / SIG_ITERS;
    waitpid(pid, NULL, 0);
    return t;
}

/* ---------- signal answered from a handler / callback ---------- */
enum { CB_ITERS = 5000 };
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
    pid_t pid = fork();
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
static double sigcb_raw(void) { return sigcb(0); }
static double sigcb_ripc(void) { return sigcb(1); }

/* ---------- driver ---------- */
typedef double (*bench_fn)(void);

static void compare(const char *name, bench_fn raw, bench_fn ripc, int runs, const char *unit,
                    double scale, int throughput) {
    double r[RUNS], w[RUNS];
    raw(); /* warm-up */
    ripc();
    for (int i = 0; i < runs; i++) { /* alternate, so drift hits both */
        r[i] = raw();
        w[i] = ripc();
    }
    double mr = median(r, runs), mw = median(w, runs);
    if (throughput)
        printf("%-28s raw %8.0f %s ripc %8.0f %s ratio %.3f\n", name, scale / mr, unit, scale / mw,
               unit, mw / mr);
    else
        printf("%-28s raw %8.2f %s ripc %8.2f %s ratio %.3f\n", name, mr, unit, mw, unit, mw / mr);
    fflush(stdout);
}

int main(void) {
    rtsig = SIGRTMIN;
    sigemptyset(&rtset);
    sigaddset(&rtset, rtsig);
    sigprocmask(SIG_BLOCK, &rtset, NULL); /* children inherit it */
    memset(chunk, 'x', sizeof chunk);
    printf("# ripc pipes and signals vs raw syscalls: medians of %d alternating runs\n", RUNS);
    printf("# ratio = ripc time / raw time (1.00 = same cost)\n");
    compare("pipe ping-pong 64B:", pingpong_raw, pingpong_ripc, RUNS, "us", 0, 0);
    compare("pipe throughput 64KiB:", throughput_raw, throughput_ripc, RUNS, "MB/s",
            (double)TOTAL_MB * 1048576 / 1e6 * 1e6, 1);
    compare("signal round-trip (queue):", sigrt_raw_queue, sigrt_ripc, RUNS, "us", 0, 0);
    compare("signal round-trip (kill):", sigrt_raw_kill, sigrt_ripc_kill, RUNS, "us", 0, 0);
    printf("# next: a different mechanism, not a wrapper (callback in thread context:\n"
           "# handler -> self-pipe -> dispatcher thread), shown for its cost\n");
    compare("signal callback trip:", sigcb_raw, sigcb_ripc, 5, "us", 0, 0);
    return 0;
}
