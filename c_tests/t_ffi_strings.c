/* t_ffi_strings.c — a bad string pointer given to the C API is EFAULT,
 * never a crash (red-team pass, docs/security.md), both backends.
 *
 * The kernel answers a path it cannot read with EFAULT (open, mkfifo,
 * stat). ripc's calls that take a C string (ripc_ns_open, ripc_limit_get,
 * ripc_limit_set, ripc_fifo_create, ripc_fifo_open, ripc_ftok, the argv of
 * ripc_pipe_spawn) took the pointer's length before anything else and
 * died with SIGSEGV on (char *)1, an inaccessible page, a kernel address,
 * or a string running into an inaccessible page. Each case runs in a child
 * of its own, so a crash is one failed test, not the end of the run. */
#include <ripc.h>
#include "tap.h"

#include <sys/mman.h>

static char *page; /* one readable page, then one PROT_NONE */

static const char *bad_name[4] = {"(char *)1", "a PROT_NONE page", "a kernel address",
                                  "a string that runs into a PROT_NONE page"};

static const char *bad(int i) {
    switch (i) {
    case 0: return (const char *)1;
    case 1: return page + 4096;
    case 2: return (const char *)0xffffffffff600000ull;
    default: return page + 4096 - 16; /* 16 bytes of 'x', no NUL */
    }
}

/* Runs call(i) in a child: 0 when it failed with EFAULT, 1 other result,
 * 2 a signal. */
static int efault(long (*call)(const char *), int i, int *sig, int *err) {
    int fd[2];
    if (pipe(fd) != 0) return 1;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        close(fd[0]);
        alarm(10);
        errno = 0;
        long r = call(bad(i));
        int e = errno;
        (void)!write(fd[1], &e, sizeof e);
        _exit(r == -1 && e == EFAULT ? 0 : 1);
    }
    close(fd[1]);
    *err = 0;
    (void)!read(fd[0], err, sizeof *err);
    close(fd[0]);
    int st = 0;
    waitpid(c, &st, 0);
    *sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    return WIFSIGNALED(st) ? 2 : WEXITSTATUS(st) != 0;
}

static long c_ns_open(const char *s) { return ripc_ns_open(s) ? 0 : -1; }
static long c_limit_get(const char *s) { return ripc_limit_get(NULL, s); }
static long c_limit_set(const char *s) { return ripc_limit_set(NULL, s, 1); }
static long c_fifo_create(const char *s) { return ripc_fifo_create(s, 0600, 0); }
static long c_fifo_open(const char *s) { return ripc_fifo_open(s, 0, 0, 0) ? 0 : -1; }
static long c_ftok(const char *s) { return ripc_ftok(s, 1); }
static long c_spawn_arg(const char *s) {
    struct ripc_pipe *p = ripc_pipe_new(0);
    if (!p) return 0;
    const char *argv[] = {"/bin/true", s, NULL};
    long r = ripc_pipe_spawn(p, 0, 0, argv);
    int e = errno;
    ripc_pipe_free(p);
    errno = e;
    return r < 0 ? -1 : 0;
}
static long c_spawn_argv(const char *s) {
    struct ripc_pipe *p = ripc_pipe_new(0);
    if (!p) return 0;
    long r = ripc_pipe_spawn(p, 0, 0, (const char *const *)s);
    int e = errno;
    ripc_pipe_free(p);
    errno = e;
    return r < 0 ? -1 : 0;
}

int main(void) {
    page = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(page != MAP_FAILED && mprotect(page + 4096, 4096, PROT_NONE) == 0, "a page and a PROT_NONE page after it");
    memset(page, 'x', 4096);
    struct {
        const char *name;
        long (*call)(const char *);
    } calls[] = {
        {"ripc_ns_open(path)", c_ns_open},
        {"ripc_limit_get(NULL, name)", c_limit_get},
        {"ripc_limit_set(NULL, name, 1)", c_limit_set},
        {"ripc_fifo_create(path)", c_fifo_create},
        {"ripc_fifo_open(path)", c_fifo_open},
        {"ripc_ftok(path)", c_ftok},
        {"ripc_pipe_spawn(argv[1])", c_spawn_arg},
        {"ripc_pipe_spawn(argv)", c_spawn_argv},
    };
    for (size_t k = 0; k < sizeof calls / sizeof calls[0]; k++)
        for (int i = 0; i < 4; i++) {
            /* A bad argv array is an array of pointers, not a string: the
             * string that runs on is not a case for it. */
            if (calls[k].call == c_spawn_argv && i == 3) continue;
            int sig = 0, err = 0;
            int r = efault(calls[k].call, i, &sig, &err);
            ok(r == 0, "%s with %s: EFAULT (%s%s%s)", calls[k].name, bad_name[i],
               r == 2 ? "killed by " : "errno ", r == 2 ? strsignal(sig) : strerror(err), "");
        }
    return done_testing();
}
