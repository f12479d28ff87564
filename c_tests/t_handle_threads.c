/* t_handle_threads.c — the native API's handles under threads, signals
 * and fork (src/ffi/handle.rs, "Calls in progress": hazard words, the
 * close's membarrier), both backends, with pipes:
 * - 6 threads call on 16 handles while 2 threads free them and make new
 *   ones (1.5 s): every refusal is EBADF, and afterwards as many
 *   descriptors are open as before (each object freed once: a second
 *   free would close a descriptor someone else holds, a missed one
 *   leaves two open);
 * - a thread looping calls on a handle is interrupted by a signal whose
 *   handler frees that handle (200 times, often while the interrupted
 *   call is inside): the handler's free returns 0, the thread's next
 *   call EBADF, and the object is freed once the thread is out (its
 *   descriptors closed);
 * - fork while another thread is inside a call (30 times): the child uses
 *   its copy of the handle, frees it (0, then EBADF), makes, uses and
 *   frees new handles, and exits within 10 s (no hang);
 * - a handler siglongjmps out of a read blocked on an empty pipe: the
 *   thread's later calls work, its free returns 0, the object is freed
 *   at the latest when the thread exits;
 * - 2000 threads, 8 at a time, each calling on a handle, every other one
 *   for the first time from a pthread_key destructor (after the
 *   thread-local destructors): then, with membarrier refused by a
 *   seccomp filter, a free in a process whose other threads are gone
 *   needs no barrier and closes the object's descriptors. Before, each
 *   thread whose first call came from a key destructor kept its record
 *   for ever: the close needed the barrier, could not have it, and never
 *   freed the object (its descriptors left open). */
#include <ripc.h>
#include "tap.h"

#include <dirent.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d) return -1;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static int fd_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

/* 1. Calls and frees at once. */
#define NH 16
static ripc_pipe *_Atomic table[NH];
static _Atomic int stop, wrong_errno;

static void *caller(void *arg) {
    unsigned n = (unsigned)(uintptr_t)arg;
    long inside = 0;
    while (!stop) {
        ripc_pipe *p = table[n++ % NH];
        int r = (n & 1) ? ripc_pipe_available(p) : ripc_pipe_capacity(p);
        if (r < 0 && errno != EBADF) wrong_errno = errno;
        inside += r >= 0;
    }
    return (void *)inside;
}

static void *closer(void *arg) {
    unsigned n = (unsigned)(uintptr_t)arg;
    long closed = 0;
    while (!stop) {
        _Atomic(ripc_pipe *) *e = &table[n++ % NH];
        ripc_pipe *p = *e;
        if (ripc_pipe_free(p) == 0) {
            closed++;
            ripc_pipe *q = ripc_pipe_new(0);
            if (!q || !atomic_compare_exchange_strong(e, &p, q)) wrong_errno = -1;
        } else if (errno != EBADF)
            wrong_errno = errno;
    }
    return (void *)closed;
}

static void race(void) {
    int before = open_fds();
    for (int i = 0; i < NH; i++) table[i] = ripc_pipe_new(0);
    pthread_t t[8];
    stop = 0;
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, i < 6 ? caller : closer, (void *)(uintptr_t)(i * 7919));
    tap_nap_over(1.5);
    stop = 1;
    long calls = 0, closes = 0;
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(t[i], &r);
        *(i < 6 ? &calls : &closes) += (long)r;
    }
    for (int i = 0; i < NH; i++) ripc_pipe_free(table[i]);
    ok(wrong_errno == 0, "6 threads calling, 2 freeing and remaking: every refusal EBADF (%ld calls got in, %ld frees)",
       calls, closes);
    ok(calls > 100 && closes > 10, "both went on (%ld calls inside, %ld frees)", calls, closes);
    ok(open_fds() == before, "as many descriptors open after as before (%d, %d): each object freed once",
       open_fds(), before);
}

/* 2. A signal handler frees the handle its thread is calling on. */
static ripc_pipe *_Atomic victim;
static _Atomic int freed_rc = 1, started, handler_ran;

static void on_usr1(int sig) {
    (void)sig;
    int e = errno;
    freed_rc = ripc_pipe_free(victim);
    handler_ran = 1;
    errno = e;
}

static void *looper(void *arg) {
    (void)arg;
    ripc_pipe *p = victim;
    (void)ripc_pipe_available(p); /* the thread's first call */
    started = 1;
    for (;;) {
        if (ripc_pipe_available(p) < 0) return (void *)(long)(errno == EBADF && handler_ran);
    }
}

static void signal_free(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    int before = open_fds();
    int good = 0, freed = 0, rounds = 0;
    uint64_t x = 5;
    for (; rounds < 200; rounds++) {
        victim = ripc_pipe_new(0);
        int fd = ripc_pipe_fd(victim, RIPC_PIPE_READ);
        started = 0;
        handler_ran = 0;
        freed_rc = 1;
        pthread_t t;
        pthread_create(&t, NULL, looper, NULL);
        while (!started) sched_yield();
        for (uint64_t k = tap_xorshift(&x) % 20000; k > 0; k--) __asm__ volatile("");
        pthread_kill(t, SIGUSR1);
        void *r;
        pthread_join(t, &r);
        good += r != NULL && freed_rc == 0;
        freed += !fd_open(fd) || ripc_pipe_fd(victim, RIPC_PIPE_READ) != -1;
    }
    signal(SIGUSR1, SIG_DFL);
    ok(good == rounds, "%d of %d handles freed by a signal handler on the thread calling on them: freed (0), then EBADF",
       good, rounds);
    ok(freed == rounds, "%d of %d objects freed once the interrupted thread was out", freed, rounds);
    ok(open_fds() == before, "as many descriptors open after as before (%d, %d)", open_fds(), before);
}

/* 3. fork while another thread is inside a call. */
static void *spinner(void *arg) {
    ripc_pipe *p = arg;
    while (!stop) (void)ripc_pipe_available(p);
    return NULL;
}

static void fork_inside(void) {
    ripc_pipe *p = ripc_pipe_new(0);
    stop = 0;
    pthread_t t;
    pthread_create(&t, NULL, spinner, p);
    int good = 0, n = 30;
    for (int i = 0; i < n; i++) {
        tap_nap_over(0.002);
        fflush(stdout);
        pid_t c = fork();
        if (c == 0) {
            alarm(10);
            char b;
            if (ripc_pipe_available(p) < 0) _exit(2);
            if (ripc_pipe_write(p, "y", 1) != 1 || ripc_pipe_read(p, &b, 1) != 1) _exit(3);
            if (ripc_pipe_free(p) != 0) _exit(4);
            if (ripc_pipe_available(p) != -1 || errno != EBADF || ripc_pipe_free(p) != -1) _exit(5);
            for (int k = 0; k < 50; k++) {
                ripc_pipe *q = ripc_pipe_new(0);
                if (!q || ripc_pipe_write(q, "z", 1) != 1 || ripc_pipe_read(q, &b, 1) != 1 || ripc_pipe_free(q) != 0)
                    _exit(6);
            }
            _exit(0);
        }
        int st;
        waitpid(c, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            good++;
        else
            diag("child %d: %s %d", i, WIFSIGNALED(st) ? "signal" : "status",
                 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    }
    stop = 1;
    pthread_join(t, NULL);
    ok(good == n, "%d of %d children forked while a thread was inside a call used, freed and remade handles", good, n);
    ok(ripc_pipe_available(p) >= 0 && ripc_pipe_free(p) == 0, "the parent's handle works and frees");
}

/* 5. longjmp out of a call: a thread blocked in ripc_pipe_read on an
 * empty pipe is interrupted by a handler that siglongjmps out of it. The
 * thread's later calls work (by the count: its hazard word still names
 * the handle), its free returns 0 but cannot free the object while that
 * word names it; the thread's exit takes the word out and frees it. */
static sigjmp_buf jb;
static ripc_pipe *jumped;

static void on_usr2(int sig) {
    (void)sig;
    siglongjmp(jb, 1);
}

static void *jumper(void *arg) {
    int *res = arg, fd = ripc_pipe_fd(jumped, RIPC_PIPE_READ);
    char b;
    if (sigsetjmp(jb, 1) == 0) {
        started = 1;
        (void)ripc_pipe_read(jumped, &b, 1);
        return NULL; /* (not reached: nothing is written) */
    }
    res[0] = ripc_pipe_available(jumped) == 0 && ripc_pipe_write(jumped, "a", 1) == 1 &&
             ripc_pipe_read(jumped, &b, 1) == 1;
    res[1] = ripc_pipe_free(jumped) == 0 && ripc_pipe_available(jumped) == -1 && errno == EBADF;
    res[2] = fd_open(fd);
    res[3] = fd;
    return NULL;
}

static void jump_out(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr2;
    sigaction(SIGUSR2, &sa, NULL);
    jumped = ripc_pipe_new(0);
    int res[4] = {0, 0, 0, -1};
    started = 0;
    pthread_t t;
    pthread_create(&t, NULL, jumper, res);
    while (!started) sched_yield();
    tap_nap_over(0.1); /* (blocked in the read by then, or about to be) */
    pthread_kill(t, SIGUSR2);
    pthread_join(t, NULL);
    signal(SIGUSR2, SIG_DFL);
    ok(res[0], "after a longjmp out of a blocked read, the thread's calls on the handle work");
    ok(res[1], "its free returns 0, then EBADF");
    ok(res[3] >= 0 && !fd_open(res[3]), "the object, kept while the thread lived (%s), freed at its exit",
       res[2] ? "it was" : "it was not");
}

/* 4. Thousands of threads, half of them first calling at exit. */
static pthread_key_t key;
static ripc_pipe *shared;
static _Atomic long at_exit_calls;

static void at_exit(void *v) {
    (void)v;
    at_exit_calls += ripc_pipe_available(shared) >= 0;
}

static void *short_lived(void *arg) {
    if ((uintptr_t)arg & 1)
        pthread_setspecific(key, (void *)1); /* the first call: at exit */
    else
        (void)ripc_pipe_available(shared);
    return NULL;
}

static int refuse_membarrier(void) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_membarrier, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = 4, .filter = f};
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

static void many_threads(void) {
    shared = ripc_pipe_new(0);
    pthread_key_create(&key, at_exit);
    int n = 2000, made = 0;
    for (int i = 0; i < n; i += 8) {
        pthread_t t[8];
        for (int k = 0; k < 8; k++) made += pthread_create(&t[k], NULL, short_lived, (void *)(uintptr_t)(i + k)) == 0;
        for (int k = 0; k < 8; k++) pthread_join(t[k], NULL);
    }
    ok(made == n && at_exit_calls == n / 2, "%d threads came and went, %ld of them calling first from a key destructor",
       made, (long)at_exit_calls);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        alarm(10);
        ripc_pipe *p = ripc_pipe_new(0);
        int fd = ripc_pipe_fd(p, RIPC_PIPE_READ);
        if (!refuse_membarrier()) _exit(3);
        if (ripc_pipe_available(p) < 0 || ripc_pipe_free(p) != 0) _exit(4);
        _exit(fd_open(fd) ? 1 : 0);
    }
    int st;
    waitpid(c, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
        ok(1, "# SKIP no seccomp filter to refuse membarrier with");
    else
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "then, membarrier refused, a free with no other thread left frees at once (child status %d): no record "
       "kept by a thread gone",
       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    ripc_pipe_free(shared);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    tap_subtest("race", race);
    tap_subtest("signal_free", signal_free);
    tap_subtest("fork_inside", fork_inside);
    tap_subtest("jump_out", jump_out);
    tap_subtest("many_threads", many_threads);
    return done_testing();
}
