/* t_tools_stall.c — a member whose stopped process holds the locks of its
 * queues, sets and segments cannot make root's `ripcs` or `ripcrm`
 * take a second per object (red-team pass, docs/security.md and
 * docs/bounded-time.md), both backends.
 *
 * A member (uid 65534) makes 10 queues, 10 sets and 10 segments, names
 * itself the holder of each one's lock (pid and start time in the lock
 * word; it maps the files, so it is taken for a live holder, as an honest
 * process stopped inside a call would be) and stops (SIGSTOP). On the
 * kernel, `ipcs` and `ipcrm -a` never wait. ripc's control calls wait up
 * to 1 s for a lock (CTL_BOUND) before they go on without it: `ripcrm -a`
 * took 20 s here (the test removes the 30 objects by id: under the kernel
 * backend `ripcrm -a` would remove every object of the machine) (a second per queue and per set), and a member with
 * thousands of objects made it take hours. The tools walk over every
 * object, and now wait at most the IPC_NOWAIT bound (10 ms) for each. */
#include "ripc_sysv.h"
#include "tap.h"

#include <dirent.h>

#define N 10

static void hold(const char *kind, int id, uint32_t pid, unsigned long long start) {
    /* RobustLock at 40 in the object header: pid, pad, start time. */
    unsigned char *p = tap_map_object(kind, id);
    if (!p) _exit(4);
    memcpy(p + 40, &pid, 4);
    memcpy(p + 48, &start, 8);
    /* stays mapped: a holder maps the file its lock lies in */
}

static int member(int wfd) {
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) return 2;
    uint32_t pid = (uint32_t)getpid();
    unsigned long long start = tap_start_time(0);
    int ids[3 * N];
    for (int i = 0; i < N; i++) {
        int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600), s = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600),
            m = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
        if (q < 0 || s < 0 || m < 0) return 3;
        ids[3 * i] = q;
        ids[3 * i + 1] = s;
        ids[3 * i + 2] = m;
        if (!backend_is_kernel()) {
            hold("msg", q, pid, start);
            hold("sem", s, pid, start);
            hold("shm", m, pid, start);
        }
    }
    if (write(wfd, ids, sizeof ids) != (ssize_t)sizeof ids) return 5;
    raise(SIGSTOP);
    return 0;
}

/* Seconds `name args` takes; its status in *status. */
static double tool(const char *name, const char *args, int *status) {
    double t0 = tap_now();
    *status = tap_tool(name, args);
    return tap_now() - t0;
}

int main(void) {
    TAP_SKIP_UNLESS_ROOT();
    int rfd = -1;
    pid_t c = tap_fork_piped(member, 120, &rfd);
    int ids[3 * N];
    int got = c > 0 && read(rfd, ids, sizeof ids) == (ssize_t)sizeof ids;
    int st = 0;
    int stopped = got && waitpid(c, &st, WUNTRACED) == c && WIFSTOPPED(st);
    ok(stopped, "the member made %d queues, sets and segments, holds their locks and is stopped", N);
    if (!stopped) return done_testing();
    int r;
    double took = tool("ripcs", "", &r);
    ok(r == 0 && took < 3, "ripcs in %.2f s (status %d)", took, r);
    took = tool("ripcs", "-a", &r);
    ok(r == 0 && took < 3, "ripcs -a in %.2f s (status %d)", took, r);
    /* The member's objects by id (under the kernel backend `ripcrm -a`
     * would remove every object of the machine, other tests' too). */
    char rm[4096] = "";
    for (int i = 0; i < 3 * N; i++) {
        size_t l = strlen(rm);
        snprintf(rm + l, sizeof rm - l, " -%c %d", "qsm"[i % 3], ids[i]);
    }
    took = tool("ripcrm", rm, &r);
    ok(r == 0 && took < 3, "ripcrm of the %d objects in %.2f s (status %d)", 3 * N, took, r);
    /* (By id: under the kernel backend the *_INFO counts are the whole
     * machine's.) */
    int left = 0;
    for (int i = 0; i < N; i++) {
        struct msqid_ds qd;
        struct semid_ds sd;
        struct shmid_ds md;
        left += msgctl(ids[3 * i], IPC_STAT, &qd) == 0;
        left += semctl(ids[3 * i + 1], 0, IPC_STAT, &sd) == 0;
        left += shmctl(ids[3 * i + 2], IPC_STAT, &md) == 0;
    }
    ok(left == 0, "and removed them all (%d left)", left);
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    /* Whatever is left (a failure above): root removes it now. */
    for (int i = 0; i < N; i++) {
        msgctl(ids[3 * i], IPC_RMID, NULL);
        semctl(ids[3 * i + 1], 0, IPC_RMID);
        shmctl(ids[3 * i + 2], IPC_RMID, NULL);
    }
    return done_testing();
}
