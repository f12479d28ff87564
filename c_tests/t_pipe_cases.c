/* t_pipe_cases — the four pipe cases of seed 002 (1.6):
 *   1. reading an empty pipe blocks;
 *   2. once the writer closed and the pipe is drained, read returns 0;
 *   3. writing a full pipe blocks;
 *   4. writing with no reader left gives EPIPE, and SIGPIPE kills the writer
 *      unless it asked not to be signalled (RIPC_PIPE_NOSIGPIPE, or
 *      ripc_signal_ignore(SIGPIPE)). */
#include "tap.h"
#include <ripc.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void msleep(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* True when the child is still running after `ms` milliseconds. */
static int still_blocked(pid_t pid, int ms) {
    int st;
    msleep(ms);
    return waitpid(pid, &st, WNOHANG) == 0;
}

static int exit_code(pid_t pid) {
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1;
    if (WIFSIGNALED(st)) return 1000 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

/* Blocks SIGPIPE in the calling thread (the caller's own mask, as a
 * program that handles EPIPE itself would set it). */
static void block_sigpipe(void) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    sigprocmask(SIG_BLOCK, &s, NULL);
}

int main(void) {
    char buf[64];
    int rc;

    /* 1. empty pipe: read blocks until data arrives */
    struct ripc_pipe *p = ripc_pipe_new(0);
    pid_t pid = fork();
    if (pid == 0) {
        ssize_t n = ripc_pipe_read(p, buf, sizeof buf);
        _exit(n == 5 && memcmp(buf, "hello", 5) == 0 ? 0 : 1);
    }
    ok(still_blocked(pid, 200), "case 1: read on an empty pipe blocks");
    ripc_pipe_write(p, "hello", 5);
    ok(exit_code(pid) == 0, "case 1: ... and returns the data once written");
    ripc_pipe_free(p);

    /* 2. writer closes: the reader drains what is left, then gets 0 */
    p = ripc_pipe_new(0);
    ripc_pipe_write(p, "bye", 3);
    ripc_pipe_close(p, RIPC_PIPE_WRITE);
    ok(ripc_pipe_read(p, buf, sizeof buf) == 3, "case 2: data written before close is still read");
    ok(ripc_pipe_read(p, buf, sizeof buf) == 0, "case 2: then read returns 0 (end of file)");
    ripc_pipe_free(p);
    /* ... also when a blocked reader is waiting at the time of the close */
    p = ripc_pipe_new(0);
    pid = ripc_pipe_fork(p, RIPC_PIPE_WRITE, -1);
    if (pid == 0) {
        msleep(100);
        ripc_pipe_free(p); /* closes the write end */
        _exit(0);
    }
    ok(ripc_pipe_read(p, buf, sizeof buf) == 0, "case 2: a blocked reader wakes with 0 on close");
    exit_code(pid);
    ripc_pipe_free(p);

    /* 3. full pipe: write blocks until the reader makes room */
    p = ripc_pipe_new(0);
    int cap = ripc_pipe_set_capacity(p, 4096);
    static char big[4096 + 100];
    pid = fork();
    if (pid == 0) {
        ssize_t n = ripc_pipe_write_all(p, big, sizeof big);
        _exit(n == (ssize_t)sizeof big ? 0 : 1);
    }
    ok(cap == 4096 && still_blocked(pid, 200), "case 3: writing more than a full pipe blocks");
    ok(ripc_pipe_read_exact(p, big, 4096) == 4096, "case 3: reader drains the pipe");
    ok(exit_code(pid) == 0, "case 3: ... and the writer completes");
    ripc_pipe_free(p);

    /* 4a. reader gone, default disposition: the writer dies of SIGPIPE */
    p = ripc_pipe_new(0);
    ripc_pipe_close(p, RIPC_PIPE_READ);
    pid = fork();
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        ripc_pipe_write(p, "x", 1);
        _exit(0); /* not reached */
    }
    ok(exit_code(pid) == 1000 + SIGPIPE, "case 4: with no reader, the writer is killed by SIGPIPE");

    /* 4b. RIPC_PIPE_NOSIGPIPE: EPIPE, no signal, nothing left pending */
    pid = fork();
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        ripc_pipe_set_nosigpipe(p, 1);
        errno = 0;
        ssize_t n = ripc_pipe_write(p, "x", 1);
        int e = errno;
        sigset_t pend;
        sigpending(&pend);
        _exit(n != -1 ? 2 : e != EPIPE ? 3 : sigismember(&pend, SIGPIPE) ? 4 : 0);
    }
    rc = exit_code(pid);
    ok(rc == 0, "case 4: with NOSIGPIPE the write fails with EPIPE and no signal (%d)", rc);

    /* 4c. NOSIGPIPE while the caller itself blocks SIGPIPE and one is
     * already pending: ripc must not eat the caller's signal */
    pid = fork();
    if (pid == 0) {
        sigset_t pend;
        block_sigpipe();
        raise(SIGPIPE);
        ripc_pipe_set_nosigpipe(p, 1);
        ssize_t n = ripc_pipe_write(p, "x", 1);
        sigpending(&pend);
        _exit(n != -1 ? 2 : errno != EPIPE ? 3 : !sigismember(&pend, SIGPIPE) ? 4 : 0);
    }
    rc = exit_code(pid);
    ok(rc == 0, "case 4: a SIGPIPE the caller had pending stays pending (%d)", rc);

    /* 4d. ripc_signal_ignore(SIGPIPE): plain EPIPE */
    pid = fork();
    if (pid == 0) {
        ripc_signal_ignore(SIGPIPE);
        ssize_t n = ripc_pipe_write(p, "x", 1);
        _exit(n == -1 && errno == EPIPE ? 0 : 1);
    }
    ok(exit_code(pid) == 0, "case 4: with SIGPIPE ignored the write fails with EPIPE");
    ripc_pipe_free(p);

    /* 4e. the reader closes while the writer is blocked on a full pipe */
    p = ripc_pipe_new(RIPC_PIPE_NOSIGPIPE);
    ripc_pipe_set_capacity(p, 4096);
    pid = fork();
    if (pid == 0) {
        ripc_pipe_close(p, RIPC_PIPE_READ); /* the parent holds the only reader */
        ssize_t n = ripc_pipe_write_all(p, big, sizeof big);
        _exit(n == -1 && errno == EPIPE ? 0 : 1);
    }
    msleep(100);
    ripc_pipe_close(p, RIPC_PIPE_READ);
    rc = exit_code(pid);
    ok(rc == 0, "case 4: a writer blocked on a full pipe gets EPIPE when the reader leaves (%d)", rc);
    ripc_pipe_free(p);

    /* 4f. the same with SIGPIPE blocked by the caller: the short write and
     * the EPIPE both raised SIGPIPE, which coalesce into one pending signal;
     * write_all consumes it, so none is left pending */
    p = ripc_pipe_new(RIPC_PIPE_NOSIGPIPE);
    ripc_pipe_set_capacity(p, 4096);
    pid = fork();
    if (pid == 0) {
        sigset_t pend;
        block_sigpipe();
        ripc_pipe_close(p, RIPC_PIPE_READ);
        ssize_t n = ripc_pipe_write_all(p, big, sizeof big);
        int e = errno;
        sigpending(&pend);
        _exit(n != -1 ? 2 : e != EPIPE ? 3 : sigismember(&pend, SIGPIPE) ? 4 : 0);
    }
    msleep(100);
    ripc_pipe_close(p, RIPC_PIPE_READ);
    rc = exit_code(pid);
    ok(rc == 0, "case 4: write_all with SIGPIPE blocked leaves no SIGPIPE pending (%d)", rc);
    ripc_pipe_free(p);
    return done_testing();
}
