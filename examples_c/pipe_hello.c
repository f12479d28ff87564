/* pipe_hello — seed 002's pipe+fork program on the ripc API: the child
 * writes "hello Linux" ten times, the parent reads and prints until end of
 * file.
 *
 *     cc pipe_hello.c -lripc -o pipe_hello && ./pipe_hello
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <ripc.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    struct ripc_pipe *p = ripc_pipe_new(0);
    if (p == NULL) {
        perror("ripc_pipe_new");
        return 1;
    }
    /* The child keeps the write end, the parent the read end. */
    pid_t pid = ripc_pipe_fork(p, RIPC_PIPE_WRITE, -1);
    if (pid == -1) {
        perror("ripc_pipe_fork");
        return 2;
    }
    if (pid == 0) {
        const char *str = "hello Linux";
        for (int i = 0; i < 10; i++) {
            if (ripc_pipe_write(p, str, 11) == -1) {
                perror("ripc_pipe_write");
                _exit(1);
            }
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
        ripc_pipe_free(p); /* closes the write end: the parent sees EOF */
        _exit(0);
    }
    char buf[64];
    for (;;) {
        ssize_t len = ripc_pipe_read(p, buf, sizeof buf - 1);
        if (len > 0) {
            buf[len] = 0;
            printf("receive: %s\n", buf);
        } else if (len == 0) {
            printf("********** read end **********\n");
            break;
        } else {
            perror("ripc_pipe_read");
            break;
        }
    }
    ripc_pipe_free(p);
    waitpid(pid, NULL, 0);
    return 0;
}
