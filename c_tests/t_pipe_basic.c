/* t_pipe_basic — the ripc_pipe handle: create, read/write, ends, flags,
 * capacity, helpers, argument checks. */
#include "tap.h"
#include <fcntl.h>
#include <limits.h>
#include <ripc.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    struct ripc_pipe *p = ripc_pipe_new(0);
    ok(p != NULL, "ripc_pipe_new(0)");
    int rfd = ripc_pipe_fd(p, RIPC_PIPE_READ), wfd = ripc_pipe_fd(p, RIPC_PIPE_WRITE);
    ok(rfd >= 0 && wfd >= 0 && rfd != wfd, "two descriptors");
    ok((fcntl(rfd, F_GETFD) & FD_CLOEXEC) && (fcntl(wfd, F_GETFD) & FD_CLOEXEC),
       "close-on-exec by default");
    ok(!(fcntl(rfd, F_GETFL) & O_NONBLOCK), "blocking by default");
    ok(RIPC_PIPE_BUF == PIPE_BUF, "RIPC_PIPE_BUF == PIPE_BUF (%d)", RIPC_PIPE_BUF);

    ok(ripc_pipe_write(p, "hello Linux", 11) == 11, "write 11 bytes");
    ok(ripc_pipe_available(p) == 11, "available 11");
    char buf[64] = {0};
    ok(ripc_pipe_read(p, buf, sizeof buf) == 11 && memcmp(buf, "hello Linux", 11) == 0,
       "read them back");
    ok(ripc_pipe_write(p, buf, 0) == 0, "zero-length write");

    int cap = ripc_pipe_capacity(p);
    ok(cap >= 4096, "capacity %d", cap);
    ok(ripc_pipe_set_capacity(p, 8192) == 8192 && ripc_pipe_capacity(p) == 8192,
       "set capacity 8192");
    ok(ripc_pipe_set_capacity(p, 5000) == 8192, "capacity rounds up to pages (5000 -> 8192)");

    ok(ripc_pipe_set_nonblocking(p, RIPC_PIPE_READ, 1) == 0, "set read end non-blocking");
    ok_errno(ripc_pipe_read(p, buf, sizeof buf) == -1, EAGAIN, "empty non-blocking read: EAGAIN");
    ok(ripc_pipe_set_nonblocking(p, RIPC_PIPE_READ, 0) == 0, "and back to blocking");

    ok(ripc_pipe_close(p, RIPC_PIPE_WRITE) == 0, "close the write end");
    ok(ripc_pipe_read(p, buf, sizeof buf) == 0, "read after writer closed: 0 (EOF)");
    ok_errno(ripc_pipe_close(p, RIPC_PIPE_WRITE) == -1, EBADF, "close twice: EBADF");
    ok_errno(ripc_pipe_write(p, "x", 1) == -1, EBADF, "write on closed end: EBADF");
    ok_errno(ripc_pipe_fd(p, RIPC_PIPE_WRITE) == -1, EBADF, "fd of closed end: EBADF");
    ok(ripc_pipe_free(p) == 0, "free");
    ok(ripc_pipe_free(NULL) == 0, "free(NULL) is fine");

    /* flags */
    p = ripc_pipe_new(RIPC_PIPE_NONBLOCK | RIPC_PIPE_INHERIT);
    ok(p != NULL, "new(NONBLOCK|INHERIT)");
    rfd = ripc_pipe_fd(p, RIPC_PIPE_READ);
    ok(!(fcntl(rfd, F_GETFD) & FD_CLOEXEC) && (fcntl(rfd, F_GETFL) & O_NONBLOCK),
       "inheritable and non-blocking");
    ok(ripc_pipe_set_capacity(p, 4096) == 4096, "capacity 4096");
    static char big[70000];
    ok(ripc_pipe_write(p, big, sizeof big) == 4096, "non-blocking write fills exactly the capacity");
    ok_errno(ripc_pipe_write(p, "x", 1) == -1, EAGAIN, "full non-blocking write: EAGAIN");
    ripc_pipe_free(p);

    ok_errno(ripc_pipe_new(64) == NULL, EINVAL, "unknown flag: EINVAL");
    ok_errno(ripc_pipe_read(NULL, buf, 1) == -1, EFAULT, "NULL handle: EFAULT");
    p = ripc_pipe_new(0);
    ok_errno(ripc_pipe_read(p, NULL, 10) == -1, EFAULT, "NULL buffer: EFAULT");
    ok_errno(ripc_pipe_write(p, (void *)16, 10) == -1, EFAULT, "wild buffer: EFAULT");
    ok_errno(ripc_pipe_close(p, 7) == -1, EINVAL, "bad end: EINVAL");

    /* read_exact / write_all across processes, bigger than the pipe */
    enum { N = 1 << 20 };
    static unsigned char out[N], in[N + 16];
    for (int i = 0; i < N; i++) out[i] = (unsigned char)(i * 7);
    pid_t pid = ripc_pipe_fork(p, RIPC_PIPE_WRITE, -1);
    if (pid == 0) {
        ssize_t n = ripc_pipe_write_all(p, out, N);
        _exit(n == N ? 0 : 1);
    }
    ok(pid > 0, "ripc_pipe_fork (child keeps the write end)");
    ok_errno(ripc_pipe_fd(p, RIPC_PIPE_WRITE) == -1, EBADF, "parent's write end is closed");
    ok(ripc_pipe_read_exact(p, in, sizeof in) == N && memcmp(in, out, N) == 0,
       "read_exact gets all 1 MiB then stops at EOF");
    int st = 0;
    waitpid(pid, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child's write_all returned N");
    ripc_pipe_free(p);
    return done_testing();
}
