/* fifo_client — seed 002's FIFO chat client on the ripc API: wait at most
 * TIMEOUT_MS for the server, then forward stdin to it until end of input.
 *
 *     ./fifo_client [PATH [TIMEOUT_MS]]      (default: fifo, 60000)
 */
#include <ripc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "fifo";
    int timeout_ms = argc > 2 ? atoi(argv[2]) : 60000;
    /* NOSIGPIPE: if the server goes away, writes fail with EPIPE instead
     * of killing us. */
    struct ripc_pipe *out = ripc_fifo_open(path, RIPC_PIPE_WRITE, RIPC_PIPE_NOSIGPIPE, timeout_ms);
    if (out == NULL) {
        perror("ripc_fifo_open");
        return 1;
    }
    char buf[64];
    for (;;) {
        printf("[client input]: ");
        fflush(stdout);
        ssize_t len = read(0, buf, sizeof buf);
        if (len == 0) break; /* end of input: leave, the server sees EOF */
        if (len < 0) {
            perror("read stdin");
            return 2;
        }
        if (ripc_pipe_write_all(out, buf, (size_t)len) == -1) {
            perror("ripc_pipe_write_all");
            return 3;
        }
    }
    printf("\n");
    ripc_pipe_free(out);
    return 0;
}
