/* fifo_size — seed 002's question "is pipe data in memory or on disk?":
 * fill a FIFO without reading it, then look at the file's size: 0, the data
 * sits in the kernel's pipe buffer.
 *
 *     ./fifo_size [PATH]      (default: fifo; removed at the end)
 */
#include <errno.h>
#include <ripc.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "fifo";
    umask(0);
    if (ripc_fifo_create(path, 0664, 0) == -1) {
        perror("ripc_fifo_create");
        return 1;
    }
    /* Non-blocking: the reader opens at once, then the writer finds it;
     * writes stop with EAGAIN when the pipe is full instead of hanging. */
    struct ripc_pipe *r = ripc_fifo_open(path, RIPC_PIPE_READ, RIPC_PIPE_NONBLOCK, 0);
    struct ripc_pipe *w = ripc_fifo_open(path, RIPC_PIPE_WRITE, RIPC_PIPE_NONBLOCK, 0);
    if (r == NULL || w == NULL) {
        perror("ripc_fifo_open");
        unlink(path);
        return 2;
    }
    const char *str = "hello Linux";
    long total = 0;
    ssize_t n;
    while ((n = ripc_pipe_write(w, str, strlen(str))) > 0) total += n;
    if (errno != EAGAIN) perror("ripc_pipe_write");
    struct stat st;
    if (stat(path, &st) == -1) {
        perror("stat");
        return 3;
    }
    printf("wrote %ld bytes (pipe capacity %d, %d waiting)\n", total, ripc_pipe_capacity(w),
           ripc_pipe_available(r));
    printf("%s: file size %lld\n", path, (long long)st.st_size);
    ripc_pipe_free(w);
    ripc_pipe_free(r);
    unlink(path);
    return st.st_size == 0 ? 0 : 4;
}
