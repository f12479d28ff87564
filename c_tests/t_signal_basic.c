/* t_signal_basic — ripc's signal API: callbacks in thread context (may
 * allocate and print), payloads, EINTR vs RIPC_SIGNAL_RESTART on a blocking
 * ripc pipe read, wait with a timeout, block/unblock, a signal descriptor
 * for poll loops, argument checks. */
#include "tap.h"
#include <poll.h>
#include <ripc.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static atomic_int calls, last_value, last_code, last_pid, on_main_thread, printed;

static void msleep(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits up to `ms` for calls to reach `n`. */
static int wait_calls(int n, int ms) {
    for (int i = 0; i < ms && atomic_load(&calls) < n; i++) msleep(1);
    return atomic_load(&calls) >= n;
}

static void on_sig(const struct ripc_siginfo *info, void *user) {
    /* Not async-signal-safe, and fine here: this is thread context. */
    char *msg = malloc(128);
    snprintf(msg, 128, "# callback: signal %d value %ld from pid %d (%s)", info->signo,
             (long)info->value, (int)info->pid, (const char *)user);
    if (atomic_fetch_add(&printed, 1) < 3) { /* keep the TAP output short */
        printf("%s\n", msg);
        fflush(stdout);
    }
    free(msg);
    if ((pid_t)syscall(SYS_gettid) == getpid()) atomic_store(&on_main_thread, 1);
    atomic_store(&last_value, (int)info->value);
    atomic_store(&last_code, info->code);
    atomic_store(&last_pid, info->pid);
    atomic_fetch_add(&calls, 1);
}

int main(void) {
    char ctx[] = "user context";
    ok(ripc_signal_handle(SIGUSR1, on_sig, ctx, RIPC_SIGNAL_RESTART) == 0, "handle SIGUSR1");
    ok(ripc_signal_send(getpid(), SIGUSR1, 42) == 0, "send SIGUSR1 with payload 42 to self");
    ok(wait_calls(1, 2000), "callback ran");
    ok(atomic_load(&last_value) == 42 && atomic_load(&last_code) == SI_QUEUE &&
           atomic_load(&last_pid) == getpid(),
       "it saw value 42, SI_QUEUE and our pid");
    ok(!atomic_load(&on_main_thread), "it ran on the dispatcher thread, not in the handler");
    ok(atomic_load(&printed) == 1, "it allocated and printed");

    /* fork: the child keeps working callbacks of its own, and its signals
     * never reach the parent's callbacks */
    int before = atomic_load(&calls);
    pid_t child = fork();
    if (child == 0) {
        int mine = atomic_load(&calls);
        ripc_signal_send(getpid(), SIGUSR1, 77);
        _exit(wait_calls(mine + 1, 2000) && atomic_load(&last_value) == 77 ? 0 : 1);
    }
    int cst = 0;
    waitpid(child, &cst, 0);
    ok(WIFEXITED(cst) && WEXITSTATUS(cst) == 0, "a forked child's callback runs (its own dispatcher)");
    msleep(50);
    ok(atomic_load(&calls) == before && atomic_load(&last_value) != 77,
       "... and the parent's callback did not see the child's signal");

    before = atomic_load(&calls);
    ok(ripc_signal_kill(getpid(), SIGUSR1) == 0 && wait_calls(before + 1, 2000) &&
           atomic_load(&last_code) == SI_USER && atomic_load(&last_value) == 0,
       "ripc_signal_kill: the callback sees SI_USER and no payload");
    ok_errno(ripc_signal_kill(getpid(), 65) == -1, EINVAL, "ripc_signal_kill(65): EINVAL");

    /* A callback that mallocs while the interrupted thread is inside malloc:
     * a classic deadlock for real handlers, safe here. */
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 100; i++) {
            kill(getppid(), SIGUSR1);
            msleep(2);
        }
        _exit(0);
    }
    before = atomic_load(&calls);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        void *v[64];
        for (int i = 0; i < 64; i++) v[i] = malloc(16 + i * 40);
        for (int i = 0; i < 64; i++) free(v[i]);
        clock_gettime(CLOCK_MONOTONIC, &t1);
    } while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 400);
    waitpid(pid, NULL, 0);
    msleep(100);
    ok(atomic_load(&calls) > before, "callbacks that malloc/printf during a malloc loop: %d ran, no deadlock",
       atomic_load(&calls) - before);

    /* EINTR: a blocking ripc pipe read is interrupted by a signal whose
     * handler was installed without RIPC_SIGNAL_RESTART. */
    ok(ripc_signal_handle(SIGUSR2, on_sig, ctx, 0) == 0, "handle SIGUSR2 without restart");
    struct ripc_pipe *p = ripc_pipe_new(0);
    pid = fork();
    if (pid == 0) {
        msleep(300); /* the parent is blocked in ripc_pipe_read by then */
        kill(getppid(), SIGUSR2);
        msleep(300);
        ripc_pipe_write(p, "late", 4);
        _exit(0);
    }
    char buf[16];
    before = atomic_load(&calls);
    errno = 0;
    ssize_t n = ripc_pipe_read(p, buf, sizeof buf);
    int e = errno;
    ok(n == -1 && e == EINTR, "blocked ripc_pipe_read returns -1/EINTR when the signal arrives");
    ok(wait_calls(before + 1, 2000), "... and the callback ran");
    ok(ripc_pipe_read(p, buf, sizeof buf) == 4, "the next read gets the data");
    waitpid(pid, NULL, 0);

    /* With RIPC_SIGNAL_RESTART the read is restarted and returns the data. */
    ok(ripc_signal_handle(SIGUSR2, on_sig, ctx, RIPC_SIGNAL_RESTART) == 0, "handle SIGUSR2 with restart");
    pid = fork();
    if (pid == 0) {
        msleep(100);
        kill(getppid(), SIGUSR2);
        msleep(200);
        ripc_pipe_write(p, "data", 4);
        _exit(0);
    }
    before = atomic_load(&calls);
    n = ripc_pipe_read(p, buf, sizeof buf);
    ok(n == 4 && atomic_load(&calls) > before, "with restart the read survives the signal and returns data");
    waitpid(pid, NULL, 0);
    ripc_pipe_free(p);

    /* block / unblock */
    sigset_t s1;
    sigemptyset(&s1);
    sigaddset(&s1, SIGUSR1);
    ok(ripc_signal_block(&s1) == 0, "block SIGUSR1");
    before = atomic_load(&calls);
    ripc_signal_send(getpid(), SIGUSR1, 5);
    msleep(100);
    ok(atomic_load(&calls) == before, "blocked: no callback yet");
    ok(ripc_signal_unblock(&s1) == 0 && wait_calls(before + 1, 2000) && atomic_load(&last_value) == 5,
       "unblocked: the pending signal is delivered");

    /* wait with a timeout */
    int rt = SIGRTMIN + 1;
    sigset_t s2;
    sigemptyset(&s2);
    sigaddset(&s2, rt);
    ripc_signal_block(&s2);
    struct ripc_siginfo info;
    ok_errno(ripc_signal_wait(&s2, &info, 100) == -1, ETIMEDOUT, "wait with nothing pending: ETIMEDOUT");
    ripc_signal_send(getpid(), rt, 7);
    ok(ripc_signal_wait(&s2, &info, 1000) == rt && info.value == 7 && info.code == SI_QUEUE,
       "wait takes the queued signal with its payload");

    /* a descriptor for poll loops */
    int sfd = ripc_signal_fd(&s2, RIPC_SIGNAL_NONBLOCK);
    ok(sfd >= 0, "ripc_signal_fd");
    ok_errno(ripc_signal_fd_read(sfd, &info) == -1, EAGAIN, "nothing pending: EAGAIN");
    ripc_signal_send(getpid(), rt, 9);
    struct pollfd pfd = {sfd, POLLIN, 0};
    ok(poll(&pfd, 1, 1000) == 1, "the descriptor polls readable");
    ok(ripc_signal_fd_read(sfd, &info) == rt && info.value == 9 && info.pid == getpid(),
       "read gives the signal and its payload");
    close(sfd);

    /* argument checks */
    ok_errno(ripc_signal_handle(SIGKILL, on_sig, NULL, 0) == -1, EINVAL, "SIGKILL: EINVAL");
    ok_errno(ripc_signal_handle(0, on_sig, NULL, 0) == -1, EINVAL, "signal 0: EINVAL");
    ok_errno(ripc_signal_handle(SIGSEGV, on_sig, NULL, 0) == -1, EINVAL, "SIGSEGV (a fault): EINVAL");
    ok_errno(ripc_signal_handle(SIGUSR1, NULL, NULL, 0) == -1, EINVAL, "NULL callback: EINVAL");
    ok_errno(ripc_signal_handle(SIGUSR1, on_sig, NULL, 64) == -1, EINVAL, "unknown flag: EINVAL");
    ok_errno(ripc_signal_send(getpid(), 99, 0) == -1, EINVAL, "signal 99: EINVAL");
    ok_errno(ripc_signal_send(0x3ffffff0, SIGUSR1, 0) == -1, ESRCH, "no such process: ESRCH");
    ok_errno(ripc_signal_wait(NULL, NULL, 0) == -1, EFAULT, "NULL set: EFAULT");
    ok_errno(ripc_signal_block(NULL) == -1, EFAULT, "block(NULL): EFAULT");
    ok(ripc_signal_send(getpid(), 0, 0) == 0, "signal 0 checks that a process exists");
    ok(ripc_signal_default(SIGUSR1) == 0 && ripc_signal_default(SIGUSR2) == 0, "restore defaults");
    ok(ripc_signal_dropped() == 0, "nothing dropped");
    return done_testing();
}
