/* signal_fd — signals in a poll loop: block SIGUSR1 and SIGRTMIN, get a
 * descriptor that polls readable when one is pending, and read each with
 * its payload next to ordinary pipe input. A child sends three queued
 * signals with payloads, then a line through the pipe, then closes it.
 *
 *     cc signal_fd.c -lripc -o signal_fd && ./signal_fd
 */
#define _POSIX_C_SOURCE 200809L /* sigemptyset, sigaddset */
#include <poll.h>
#include <ripc.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGRTMIN);
    int sfd = ripc_signal_fd(&set, RIPC_SIGNAL_NONBLOCK); /* also blocks them */
    if (sfd == -1) {
        perror("ripc_signal_fd");
        return 1;
    }
    struct ripc_pipe *p = ripc_pipe_new(0);
    if (p == NULL) {
        perror("ripc_pipe_new");
        return 1;
    }
    pid_t parent = getpid();
    pid_t pid = ripc_pipe_fork(p, RIPC_PIPE_WRITE, -1);
    if (pid == -1) {
        perror("ripc_pipe_fork");
        return 1;
    }
    if (pid == 0) {
        for (int i = 1; i <= 3; i++)
            if (ripc_signal_send(parent, SIGRTMIN, i * 100) == -1) perror("ripc_signal_send");
        ripc_pipe_write_all(p, "done\n", 5);
        _exit(0);
    }
    struct pollfd fds[2] = {{sfd, POLLIN, 0}, {ripc_pipe_fd(p, RIPC_PIPE_READ), POLLIN, 0}};
    int open_pipe = 1, got = 0;
    while (open_pipe || got < 3) {
        if (poll(fds, 2, 5000) <= 0) {
            perror("poll (or timeout)");
            break;
        }
        struct ripc_siginfo info;
        while (ripc_signal_fd_read(sfd, &info) > 0) {
            printf("signal %d with payload %ld from pid %d\n", info.signo, (long)info.value, (int)info.pid);
            got++;
        }
        if (fds[1].revents) {
            char buf[64];
            ssize_t n = ripc_pipe_read(p, buf, sizeof buf - 1);
            if (n > 0) {
                buf[n] = 0;
                printf("pipe: %s", buf);
            } else {
                open_pipe = 0;
                fds[1].fd = -1;
            }
        }
    }
    waitpid(pid, NULL, 0);
    close(sfd);
    ripc_pipe_free(p);
    return got == 3 ? 0 : 1;
}
