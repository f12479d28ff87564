/* t_backend_env.c — RIPC_BACKEND must name a backend: with an unknown
 * value every call fails with EINVAL (none runs the default backend
 * silently), and the library says why once on stderr. RIPC_BACKEND is read
 * once per process, so each case runs in a fresh child that sets it before
 * its first call. */
#include <ripc.h>
#include <ripc_sysv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tap.h"

/* Bit i set: check i failed (in the child). */
static int child_bogus(const char *value) {
    int bad = 0, i = 0;
    setenv("RIPC_BACKEND", value, 1);
#define EXPECT_EINVAL(call)                                          \
    do {                                                             \
        errno = 0;                                                   \
        if (!(call) || errno != EINVAL) bad |= 1 << i;               \
        i++;                                                         \
    } while (0)
    EXPECT_EINVAL(ripc_msgget(IPC_PRIVATE, IPC_CREAT | 0600) == -1);
    EXPECT_EINVAL(ripc_shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600) == -1);
    EXPECT_EINVAL(ripc_semget(IPC_PRIVATE, 1, IPC_CREAT | 0600) == -1);
    EXPECT_EINVAL(ripc_queue_open(NULL, IPC_PRIVATE, 0, IPC_CREAT | 0600) == NULL);
    EXPECT_EINVAL(ripc_shm_open(NULL, IPC_PRIVATE, 4096, IPC_CREAT | 0600) == NULL);
    EXPECT_EINVAL(ripc_semset_open(NULL, IPC_PRIVATE, 1, IPC_CREAT | 0600) == NULL);
    EXPECT_EINVAL(ripc_pipe_new(0) == NULL);
    EXPECT_EINVAL(ripc_ftok(".", 1) == -1);
    EXPECT_EINVAL(ripc_limit_get(NULL, "msgmax") == -1);
    /* the version calls need no backend */
    if (strcmp(ripc_version(), RIPC_VERSION_STRING) != 0) bad |= 1 << i;
    return bad;
}

/* Runs child_bogus(value) in a child with stderr sent to a file; returns
 * its status; the child's stderr is left in err. */
static int run(const char *value, char *err, size_t n) {
    char path[] = "/tmp/ripc-t_backend_env.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    unlink(path);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 2);
        _exit(child_bogus(value));
    }
    int st = -1;
    waitpid(pid, &st, 0);
    ssize_t r = pread(fd, err, n - 1, 0);
    err[r > 0 ? r : 0] = 0;
    close(fd);
    return st;
}

int main(void) {
    char err[1024];
    int st = run("bogus", err, sizeof err);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "RIPC_BACKEND=bogus: msgget, shmget, semget, the native opens, pipes, ftok and limits fail with "
       "EINVAL (failed checks: %#x)", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    const char *want = "ripc: RIPC_BACKEND=bogus: unknown backend (use user or kernel)\n";
    ok(strcmp(err, want) == 0, "and the library says why, once, on stderr");
    if (strcmp(err, want) != 0) diag("stderr was: %s", err);
    st = run("kernel2", err, sizeof err);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "RIPC_BACKEND=kernel2 (a near miss) too");
    /* The valid names still work (the suite runs under both; "" is the default). */
    const char *cur = getenv("RIPC_BACKEND");
    ok(cur == NULL || strcmp(cur, "user") == 0 || strcmp(cur, "kernel") == 0, "this run's RIPC_BACKEND is valid");
    ripc_queue *q = ripc_queue_open(NULL, IPC_PRIVATE, 0, IPC_CREAT | 0600);
    ok(q != NULL, "under it, calls work (queue opened: %s)", q ? "yes" : strerror(errno));
    if (q) {
        ripc_queue_remove(q);
        ripc_queue_close(q);
    }
    return done_testing();
}
