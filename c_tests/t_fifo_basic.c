/* t_fifo_basic — named pipes: create with a mode, EEXIST, opens that wait
 * for the other side (with and without a timeout), non-blocking opens,
 * a reader/writer exchange, and seed 002's observation that a FIFO's data
 * stays in memory: the file's size stays 0 however much is written. */
#include "tap.h"
#include <fcntl.h>
#include <ripc.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char path[512], other[512];

int main(void) {
    const char *dir = getenv("RIPC_DIR");
    if (!dir) dir = "/tmp";
    snprintf(path, sizeof path, "%s/fifo.%d", dir, (int)getpid());
    snprintf(other, sizeof other, "%s/plain.%d", dir, (int)getpid());
    struct stat st;

    umask(0);
    ok(ripc_fifo_create(path, 0664, 0) == 0, "create a FIFO with mode 0664");
    ok(stat(path, &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 0777) == 0664,
       "it is a FIFO with mode 0664");
    ok_errno(ripc_fifo_create(path, 0664, 0) == -1, EEXIST, "create again: EEXIST");
    ok(ripc_fifo_create(path, 0664, RIPC_FIFO_EXIST_OK) == 0, "create again with EXIST_OK: 0");
    int fd = open(other, O_CREAT | O_WRONLY, 0600);
    close(fd);
    ok_errno(ripc_fifo_create(other, 0600, RIPC_FIFO_EXIST_OK) == -1, EEXIST,
             "EXIST_OK over a regular file: still EEXIST");
    ok_errno(ripc_fifo_open(other, RIPC_PIPE_READ, 0, 100) == NULL, EINVAL,
             "opening a regular file as a FIFO: EINVAL");
    unlink(other);
    ok_errno(ripc_fifo_create(NULL, 0600, 0) == -1, EFAULT, "NULL path: EFAULT");
    ok_errno(ripc_fifo_create(path, 0600, 99) == -1, EINVAL, "unknown flag: EINVAL");
    ok_errno(ripc_fifo_open(other, RIPC_PIPE_READ, 0, 100) == NULL, ENOENT, "missing FIFO: ENOENT");

    /* opens that wait for a peer, with a timeout */
    double t0 = tap_now() * 1e3;
    ok_errno(ripc_fifo_open(path, RIPC_PIPE_READ, 0, 150) == NULL, ETIMEDOUT,
             "reader without writer: ETIMEDOUT");
    double dt = tap_now() * 1e3 - t0;
    ok(dt >= 145 && dt < 2000, "... after the timeout (%.0f ms)", dt);
    t0 = tap_now() * 1e3;
    ok_errno(ripc_fifo_open(path, RIPC_PIPE_WRITE, 0, 100) == NULL, ETIMEDOUT,
             "writer without reader: ETIMEDOUT");
    dt = tap_now() * 1e3 - t0;
    ok(dt >= 95 && dt < 2000, "... after the timeout (%.0f ms)", dt);
    ok_errno(ripc_fifo_open(path, RIPC_PIPE_WRITE, RIPC_PIPE_NONBLOCK, -1) == NULL, ENXIO,
             "non-blocking writer without reader: ENXIO");
    struct ripc_pipe *r = ripc_fifo_open(path, RIPC_PIPE_READ, RIPC_PIPE_NONBLOCK, -1);
    ok(r != NULL, "non-blocking reader opens at once");
    char buf[64];
    ok(ripc_pipe_read(r, buf, sizeof buf) == 0, "... and reads 0 while no writer has the FIFO open (kernel rule)");
    ok_errno(ripc_pipe_write(r, "x", 1) == -1, EBADF, "a read-only FIFO handle cannot write: EBADF");
    struct ripc_pipe *w = ripc_fifo_open(path, RIPC_PIPE_WRITE, 0, 1000);
    ok(w != NULL, "writer with a timeout opens when a reader is there");
    struct ripc_pipe *w0 = ripc_fifo_open(path, RIPC_PIPE_WRITE, 0, 0);
    ok(w0 != NULL && !(fcntl(ripc_pipe_fd(w0, RIPC_PIPE_WRITE), F_GETFL) & O_NONBLOCK),
       "... at once, even with a zero timeout, and blocking");
    ripc_pipe_free(w0);
    ok(ripc_pipe_write(w, "hi", 2) == 2 && ripc_pipe_read(r, buf, sizeof buf) == 2,
       "data flows writer -> reader");
    ripc_pipe_free(w);
    ok(ripc_pipe_read(r, buf, sizeof buf) == 0, "writer gone: reader sees end of file");
    ripc_pipe_free(r);

    /* a timed open meets a peer that arrives later (client/server) */
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
        struct ripc_pipe *cw = ripc_fifo_open(path, RIPC_PIPE_WRITE, 0, -1);
        if (!cw) _exit(1);
        const char *m[] = {"hello server\n", "second line\n"};
        for (int i = 0; i < 2; i++) ripc_pipe_write(cw, m[i], strlen(m[i]));
        ripc_pipe_free(cw);
        _exit(0);
    }
    t0 = tap_now() * 1e3;
    r = ripc_fifo_open(path, RIPC_PIPE_READ, 0, 5000);
    dt = tap_now() * 1e3 - t0;
    ok(r != NULL && dt >= 150, "timed reader waits for the writer, then opens (%.0f ms)", dt);
    char all[128] = {0};
    ssize_t n = ripc_pipe_read_exact(r, all, sizeof all - 1);
    ok(n == 25 && strcmp(all, "hello server\nsecond line\n") == 0, "server gets both lines, then EOF");
    ripc_pipe_free(r);
    int status;
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client exited cleanly");

    /* data stays in memory: the FIFO's size stays 0 */
    r = ripc_fifo_open(path, RIPC_PIPE_READ, RIPC_PIPE_NONBLOCK, -1);
    w = ripc_fifo_open(path, RIPC_PIPE_WRITE, RIPC_PIPE_NONBLOCK, -1);
    ok(r && w, "open both ends");
    long total = 0;
    const char *str = "hello Linux";
    while ((n = ripc_pipe_write(w, str, strlen(str))) > 0) total += n;
    ok(n == -1 && errno == EAGAIN, "wrote until full (%ld bytes), then EAGAIN", total);
    ok(stat(path, &st) == 0 && st.st_size == 0, "file size is still 0 (the data is in memory)");
    ok(ripc_pipe_available(r) == total, "all %ld bytes wait in the kernel buffer", total);
    ripc_pipe_free(w);
    ripc_pipe_free(r);
    ok(unlink(path) == 0, "remove the FIFO");
    return done_testing();
}
