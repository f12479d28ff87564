/* signal_emergency — seed 000's "emergency plan" (应急预案): a 24x7 worker
 * keeps a plan for each alarm. Signals are the alarms; ripc runs the plan
 * (a callback) in ordinary thread context, so it may print, allocate and
 * take locks. The worker reports its status on SIGUSR1 and shuts down
 * cleanly on SIGTERM: it finishes the current job, sends a final report
 * to the supervisor through a pipe, and exits 0.
 *
 *     cc signal_emergency.c -lripc -o signal_emergency && ./signal_emergency
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <poll.h>
#include <ripc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static atomic_int jobs_done;
static struct ripc_pipe *stop; /* the plan tells the main loop through it */

/* Emergency plan for SIGTERM: note who raised the alarm, ask the main loop
 * to stop after the current job. */
static void on_term(const struct ripc_siginfo *info, void *user) {
    (void)user;
    char *msg = malloc(160); /* fine: we are not inside the signal handler */
    snprintf(msg, 160, "[worker] plan for SIGTERM: alarm code %ld from pid %d, stopping after the current job",
             (long)info->value, (int)info->pid);
    puts(msg);
    fflush(stdout);
    free(msg);
    if (ripc_pipe_write(stop, "!", 1) == -1) perror("ripc_pipe_write");
}

/* Plan for SIGUSR1: status report. */
static void on_status(const struct ripc_siginfo *info, void *user) {
    printf("[worker] status report for pid %d: %d jobs done (%s)\n", (int)info->pid,
           atomic_load(&jobs_done), (const char *)user);
    fflush(stdout);
}

static int worker(struct ripc_pipe *report) {
    stop = ripc_pipe_new(0);
    if (stop == NULL) {
        perror("ripc_pipe_new");
        return 1;
    }
    if (ripc_signal_handle(SIGTERM, on_term, NULL, 0) == -1 ||
        ripc_signal_handle(SIGUSR1, on_status, "all systems normal", RIPC_SIGNAL_RESTART) == -1) {
        perror("ripc_signal_handle");
        return 1;
    }
    printf("[worker] pid %d on duty\n", (int)getpid());
    fflush(stdout);
    if (ripc_pipe_write(report, "ready\n", 6) == -1) perror("ripc_pipe_write"); /* plans in place */
    struct pollfd pfd = {ripc_pipe_fd(stop, RIPC_PIPE_READ), POLLIN, 0};
    for (;;) {
        /* one "job": 100 ms of work, unless the stop alarm comes first */
        int r = poll(&pfd, 1, 100);
        if (r == -1) continue; /* EINTR: a signal arrived; its plan runs on the dispatcher */
        if (r == 1) break;
        atomic_fetch_add(&jobs_done, 1);
    }
    char line[96];
    int len = snprintf(line, sizeof line, "final report: %d jobs done, state saved, exiting cleanly\n",
                       atomic_load(&jobs_done));
    if (ripc_pipe_write_all(report, line, (size_t)len) == -1) perror("ripc_pipe_write_all");
    ripc_pipe_free(report);
    ripc_pipe_free(stop);
    return 0;
}

int main(void) {
    struct ripc_pipe *report = ripc_pipe_new(0);
    if (report == NULL) {
        perror("ripc_pipe_new");
        return 1;
    }
    pid_t pid = ripc_pipe_fork(report, RIPC_PIPE_WRITE, -1);
    if (pid == -1) {
        perror("ripc_pipe_fork");
        return 1;
    }
    if (pid == 0) _exit(worker(report));

    char ready[6];
    if (ripc_pipe_read_exact(report, ready, sizeof ready) != 6) { /* wait until the plans are in place */
        perror("worker did not start");
        return 1;
    }
    struct timespec ts = {0, 350 * 1000000L};
    nanosleep(&ts, NULL);
    printf("[supervisor] asking for a status report\n");
    fflush(stdout);
    if (ripc_signal_send(pid, SIGUSR1, 0) == -1) perror("ripc_signal_send");
    nanosleep(&ts, NULL);
    printf("[supervisor] incident! raising alarm 7 (SIGTERM)\n");
    fflush(stdout);
    if (ripc_signal_send(pid, SIGTERM, 7) == -1) perror("ripc_signal_send");

    char buf[128] = {0};
    ssize_t n = ripc_pipe_read_exact(report, buf, sizeof buf - 1);
    if (n > 0) printf("[supervisor] worker says: %s", buf);
    int st;
    waitpid(pid, &st, 0);
    int clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    printf("[supervisor] worker %s\n", clean ? "exited cleanly (status 0)" : "did NOT exit cleanly");
    ripc_pipe_free(report);
    return clean ? 0 : 1;
}
