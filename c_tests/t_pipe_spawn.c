/* t_pipe_spawn — connecting children to a pipe end the way a shell's `|`
 * does: ripc_pipe_spawn (posix_spawnp) and ripc_pipe_fork with a target
 * descriptor, plus seed 002's pipe+fork program (child writes, parent
 * reads until end of file). */
#include "tap.h"
#include <ripc.h>
#include <sys/wait.h>
#include <unistd.h>

static int status_of(pid_t pid) {
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

int main(void) {
    char buf[256] = {0};

    /* `printf abc | <us>`: the child's stdout is the write end */
    struct ripc_pipe *p = ripc_pipe_new(0);
    const char *argv1[] = {"printf", "abc", NULL};
    pid_t pid = ripc_pipe_spawn(p, RIPC_PIPE_WRITE, 1, argv1);
    ok(pid > 0, "spawn printf with stdout on the pipe");
    ok_errno(ripc_pipe_fd(p, RIPC_PIPE_WRITE) == -1, EBADF, "the caller's write end is closed");
    ok(ripc_pipe_read_exact(p, buf, sizeof buf) == 3 && memcmp(buf, "abc", 3) == 0,
       "read its output, then EOF (no stray write end anywhere)");
    ok(status_of(pid) == 0, "child exited 0");
    ripc_pipe_free(p);

    /* `<us> | sh -c 'exit $(wc -c)'`: the child's stdin is the read end */
    p = ripc_pipe_new(RIPC_PIPE_INHERIT); /* inheritable: spawn must still close the rest */
    const char *argv2[] = {"sh", "-c", "exit $(wc -c)", NULL};
    pid = ripc_pipe_spawn(p, RIPC_PIPE_READ, 0, argv2);
    ok(pid > 0, "spawn sh with stdin on the pipe");
    static char data[200];
    memset(data, 'x', sizeof data);
    ok(ripc_pipe_write_all(p, data, sizeof data) == 200, "write 200 bytes");
    ripc_pipe_close(p, RIPC_PIPE_WRITE);
    ok(status_of(pid) == 200, "the child counted 200 bytes and saw EOF");
    ripc_pipe_free(p);

    /* ripc_pipe_fork with a target descriptor, child execs */
    p = ripc_pipe_new(0);
    pid = ripc_pipe_fork(p, RIPC_PIPE_WRITE, 1);
    if (pid == 0) {
        execlp("echo", "echo", "hello from echo", (char *)NULL);
        _exit(127);
    }
    ok(pid > 0, "fork with the write end as the child's stdout");
    memset(buf, 0, sizeof buf);
    ok(ripc_pipe_read_exact(p, buf, sizeof buf) == 16 && strcmp(buf, "hello from echo\n") == 0,
       "read the child's stdout");
    ok(status_of(pid) == 0, "child exited 0");
    ripc_pipe_free(p);

    /* the article's program: child writes "hello Linux" 10 times */
    p = ripc_pipe_new(0);
    pid = ripc_pipe_fork(p, RIPC_PIPE_WRITE, -1);
    if (pid == 0) {
        for (int i = 0; i < 10; i++) ripc_pipe_write(p, "hello Linux", 11);
        ripc_pipe_free(p);
        _exit(0);
    }
    size_t total = 0;
    int good = 1;
    ssize_t n;
    while ((n = ripc_pipe_read(p, buf, sizeof buf - 1)) > 0) {
        for (ssize_t i = 0; i < n; i++) good &= buf[i] == "hello Linux"[(total + i) % 11];
        total += n;
    }
    ok(n == 0 && total == 110 && good, "parent read 10 x \"hello Linux\" then end of file");
    ok(status_of(pid) == 0, "child exited 0");
    ripc_pipe_free(p);

    const char *bad[] = {"/nonexistent/ripc-cmd", NULL};
    p = ripc_pipe_new(0);
    ok_errno(ripc_pipe_spawn(p, RIPC_PIPE_WRITE, 1, bad) == -1, ENOENT, "missing program: ENOENT");
    ok(ripc_pipe_fd(p, RIPC_PIPE_WRITE) >= 0, "nothing closed after a failed spawn");
    ok_errno(ripc_pipe_spawn(p, RIPC_PIPE_WRITE, 1, NULL) == -1, EFAULT, "NULL argv: EFAULT");
    ripc_pipe_free(p);
    return done_testing();
}
