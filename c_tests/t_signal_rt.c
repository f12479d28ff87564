/* t_signal_rt — 10,000 queued real-time signals, each with its payload,
 * reach a ripc callback in order and are counted exactly. The sender waits
 * for an acknowledgement every BATCH signals, which keeps the receiver's
 * pending queue under RLIMIT_SIGPENDING; it also retries on EAGAIN. */
#include "tap.h"
#include <poll.h>
#include <ripc.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { TOTAL = 10000, BATCH = 500 };

static atomic_int received, out_of_order, wrong_sender;
static pid_t sender;
static struct ripc_pipe *ack, *done;

static void on_rt(const struct ripc_siginfo *info, void *user) {
    (void)user;
    int n = atomic_load(&received);
    if (info->value != n) atomic_fetch_add(&out_of_order, 1);
    if (info->code != SI_QUEUE || info->pid != sender) atomic_fetch_add(&wrong_sender, 1);
    n = atomic_fetch_add(&received, 1) + 1;
    if (n % BATCH == 0) ripc_pipe_write(ack, "a", 1); /* ripc from a callback */
    if (n == TOTAL) ripc_pipe_write(done, "d", 1);
}

int main(void) {
    ack = ripc_pipe_new(0);
    done = ripc_pipe_new(0);
    int sig = SIGRTMIN;
    /* Block the signal until the callback is installed and the child is
     * known, so nothing arrives early. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    ok(ripc_signal_block(&set) == 0, "block SIGRTMIN while setting up");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        ripc_pipe_close(ack, RIPC_PIPE_WRITE);
        int retries = 0;
        for (int i = 0; i < TOTAL; i++) {
            while (ripc_signal_send(parent, sig, i) == -1) {
                if (errno != EAGAIN) _exit(1);
                retries++;
                struct timespec ts = {0, 1000000L};
                nanosleep(&ts, NULL);
            }
            char c;
            if ((i + 1) % BATCH == 0 && ripc_pipe_read_exact(ack, &c, 1) != 1) _exit(2);
        }
        _exit(0);
    }
    sender = pid;
    ok(ripc_signal_handle(sig, on_rt, NULL, RIPC_SIGNAL_RESTART) == 0,
       "callback for SIGRTMIN");
    ok(ripc_signal_unblock(&set) == 0, "unblock");
    struct pollfd pfd = {ripc_pipe_fd(done, RIPC_PIPE_READ), POLLIN, 0};
    int r;
    do {
        r = poll(&pfd, 1, 30000);
    } while (r == -1 && errno == EINTR);
    ok(r == 1, "all signals handled within 30 s");
    int st;
    waitpid(pid, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sender sent %d signals", TOTAL);
    ok(atomic_load(&received) == TOTAL, "received exactly %d (got %d)", TOTAL,
       atomic_load(&received));
    ok(atomic_load(&out_of_order) == 0, "every payload in order");
    ok(atomic_load(&wrong_sender) == 0, "every one with code SI_QUEUE and the sender's pid");
    ok(ripc_signal_dropped() == 0, "none dropped by the dispatcher");
    ok(ripc_signal_default(sig) == 0, "restore the default action");
    ripc_pipe_free(ack);
    ripc_pipe_free(done);
    return done_testing();
}
