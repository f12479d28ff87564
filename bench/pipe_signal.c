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
 *   signal callback trip   the child answers from a handler: raw
 *                          async-signal-safe sigaction handler vs a ripc
 *                          callback on the dispatcher thread (a different
 *                          mechanism, not a wrapper: one extra thread hop)
 *
 * The wrapper benchmarks alternate raw and ripc in short blocks inside the
 * same pair of processes (both sides follow the same schedule), so CPU
 * placement and neighbours' load hit both alike; each line is the median
 * over blocks. No arguments; finishes in well under 30 s.
 */
#include <ripc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "bench.h"
#include <unistd.h>

#define BLOCKS 31 /* per variant, alternating */

static double now_us(void) { return now() * 1e6; }

static void report(const char *name, double *raw, double *rip, int n, const char *unit, double scale) {
    double mr = median(raw, n), mw = median(rip, n);
    if (scale > 0)
        printf("%-28s raw %8.0f %s ripc %8.0f %s ratio %.3f\n", name, scale / mr, unit, scale / mw, unit,
               mw / mr);
    else
        printf("%-28s raw %8.2f %s ripc %8.2f %s ratio %.3f\n", name, mr, unit, mw, unit, mw / mr);
    fflush(stdout);
}

/* Block k (0-based, after one warm-up pair) uses ripc when k is odd. */
#define TOTAL_BLOCKS (2 * BLOCKS + 2)
#define USE_RIPC(k) ((k) & 1)

/* ---------- pipe ping-pong ---------- */
enum { PP_ITERS = 800, MSG = 64 };

static void pingpong(void) {
    struct ripc_pipe *a = ripc_pipe_new(0), *b = ripc_pipe_new(0);
    if (!a || !b) die("ripc_pipe_new");
    int aw = ripc_pipe_fd(a, RIPC_PIPE_WRITE), ar = ripc_pipe_fd(a, RIPC_PIPE_READ);
    int bw = ripc_pipe_fd(b, RIPC_PIPE_WRITE), br = ripc_pipe_fd(b, RIPC_PIPE_READ);
    char buf[MSG] = {0};
    pid_t pid = fork();
    if (pid == 0) {
        for (int k = 0; k < TOTAL_BLOCKS; k++) {
            for (int i = 0; i < PP_ITERS; i++) {
                if (USE_RIPC(k)) {
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
            if (USE_RIPC(k)) {
                if (ripc_pipe_write(a, buf, MSG) != MSG || ripc_pipe_read(b, buf, MSG) != MSG) die("ripc ping-pong");
            } else {
                if (write(aw, buf, MSG) != MSG || read(br, buf, MSG) != MSG) die("raw ping-pong");
            }
        }
        double t = (now_us() - t0) / PP_ITERS;
        if (k >= 2) (USE_RIPC(k) ? rip : raw)[(k - 2) / 2] = t;
    }
    waitpid(pid, NULL, 0);
    ripc_pipe_free(a);
    ripc_pipe_free(b);
    report("pipe ping-pong 64B:", raw, rip, BLOCKS, "us", 0);
}

/* ---------- pipe throughput ---------- */
enum { CHUNK = 64 * 1024, BLOCK_MB = 4 };
static char chunk[CHUNK], sink[CHUNK];

static void throughput(void) {
    struct ripc_pipe *p = ripc_pipe_new(0);
    if (!p) die("ripc_pipe_new");
    int wfd = ripc_pipe_fd(p, RIPC_PIPE_WRITE), rfd = ripc_pipe_fd(p, RIPC_PIPE_READ);
    long per = (long)BLOCK_MB << 20;
    pid_t pid = fork();
    if (pid == 0) {
        for (int k = 0; k < TOTAL_BLOCKS; k++) {
            for (long done = 0; done < per;) {
                ssize_t n = USE_RIPC(k) ? ripc_pipe_write(p, chunk, CHUNK) : write(wfd, chunk, CHUNK);
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
            ssize_t n = USE_RIPC(k) ? ripc_pipe_read(p, sink, want) : read(rfd, sink, want);
            if (n <= 0) die("throughput read");
            got += n;
        }
        double t = now_us() - t0;
        if (k >= 2) (USE_RIPC(k) ? rip : raw)[(k - 2) / 2] = t;
    }
    waitpid(pid, NULL, 0);
    ripc_pipe_free(p);
    report("pipe throughput 64KiB:", raw, rip, BLOCKS, "MB/s", (double)per);
}

/* ---------- signal round trip, both sides waiting ---------- */
enum { SIG_ITERS = 400 };
static sigset_t rtset;
static int rtsig;

static void sigrt(int with_payload) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        siginfo_t si;
        struct ripc_siginfo info;
        for (int k = 0; k < TOTAL_BLOCKS; k++) {
            for (int i = 0; i < SIG_ITERS; i++) {
                int ok;
                if (USE_RIPC(k))
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
            if (USE_RIPC(k)) {
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
        if (k >= 2) (USE_RIPC(k) ? rip : raw)[(k - 2) / 2] = t;
    }
    waitpid(pid, NULL, 0);
    report(with_payload ? "signal round-trip (queue):" : "signal round-trip (kill):", raw, rip, BLOCKS, "us", 0);
}

/* ---------- signal answered from a handler / callback ---------- */
enum { CB_ITERS = 2000, CB_RUNS = 5 };
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

int main(void) {
    rtsig = SIGRTMIN;
    sigemptyset(&rtset);
    sigaddset(&rtset, rtsig);
    sigprocmask(SIG_BLOCK, &rtset, NULL); /* children inherit it */
    memset(chunk, 'x', sizeof chunk);
    printf("# ripc pipes and signals vs raw syscalls: medians of %d alternating blocks each\n", BLOCKS);
    printf("# ratio = ripc time / raw time (1.00 = same cost)\n");
    pingpong();
    throughput();
    sigrt(1);
    sigrt(0);
    printf("# next: a different mechanism, not a wrapper (callback in thread context:\n"
           "# handler -> self-pipe -> dispatcher thread), shown for its cost\n");
    double raw[CB_RUNS], rip[CB_RUNS];
    for (int i = 0; i < CB_RUNS; i++) {
        raw[i] = sigcb(0);
        rip[i] = sigcb(1);
    }
    report("signal callback trip:", raw, rip, CB_RUNS, "us", 0);
    return 0;
}
