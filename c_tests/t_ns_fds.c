/* t_ns_fds.c — issue 12: using an object keeps no descriptor open. With
 * RLIMIT_NOFILE at 64, a process creates 1000 queues, sends and receives
 * a message on each, and removes them all (the kernel needs no descriptor
 * at all; ripc, before, kept one per queue and failed with EMFILE after
 * 59). Under the user backend the queues are made small first (msgmnb 64:
 * the namespace is the test's own). Both backends. */
#include "ripc_sysv.h"
#include "tap.h"
#include <ripc.h>
#include <sys/resource.h>

#define NQ 1000

int main(void) {
    if (!backend_is_kernel()) ok(ripc_limit_set(NULL, "msgmnb", 64) == 0, "msgmnb 64 in the test's namespace");
    struct rlimit rl = {64, 64};
    ok(setrlimit(RLIMIT_NOFILE, &rl) == 0, "ulimit -n 64");
    static int q[NQ];
    int made = 0, first_err = 0;
    for (int i = 0; i < NQ; i++) {
        q[i] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (q[i] < 0) {
            first_err = errno;
            break;
        }
        made++;
    }
    ok(made == NQ, "%d queues created (first error: %s)", made, first_err ? strerror(first_err) : "none");
    int sent = 0, got = 0;
    for (int i = 0; i < made; i++) {
        struct { long t; char s[16]; } m = {1 + i % 7, "fd-less"}, in;
        if (msgsnd(q[i], &m, sizeof m.s, IPC_NOWAIT) == 0) sent++;
        if (msgrcv(q[i], &in, sizeof in.s, 0, IPC_NOWAIT) == (ssize_t)sizeof in.s && in.t == m.t &&
            strcmp(in.s, "fd-less") == 0)
            got++;
    }
    ok(sent == made && got == made, "a message sent and received on each (%d sent, %d received)", sent, got);
    int removed = 0;
    for (int i = 0; i < made; i++)
        if (msgctl(q[i], IPC_RMID, NULL) == 0) removed++;
    ok(removed == made, "all %d removed", removed);
    return done_testing();
}
