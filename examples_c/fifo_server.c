/* fifo_server — seed 002's FIFO chat server on the ripc API: create the
 * FIFO (an existing one is fine), wait at most TIMEOUT_MS for a client,
 * print what it sends until it leaves, remove the FIFO.
 *
 *     ./fifo_server [PATH [TIMEOUT_MS]]      (default: fifo, 60000)
 */
#include <ripc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "fifo";
    int timeout_ms = argc > 2 ? atoi(argv[2]) : 60000;
    umask(0);
    if (ripc_fifo_create(path, 0664, RIPC_FIFO_EXIST_OK) == -1) {
        perror("ripc_fifo_create");
        return 1;
    }
    struct ripc_pipe *in = ripc_fifo_open(path, RIPC_PIPE_READ, 0, timeout_ms);
    if (in == NULL) {
        perror("ripc_fifo_open"); /* ETIMEDOUT: no client came */
        unlink(path);
        return 2;
    }
    char buf[64];
    int rc = 0;
    for (;;) {
        ssize_t len = ripc_pipe_read(in, buf, sizeof buf - 1);
        if (len > 0) {
            buf[len] = 0;
            printf("[server receive]: %s", buf);
            fflush(stdout);
        } else if (len == 0) {
            printf("******* client end *******\n");
            break;
        } else {
            perror("ripc_pipe_read");
            rc = 3;
            break;
        }
    }
    ripc_pipe_free(in);
    unlink(path);
    return rc;
}
