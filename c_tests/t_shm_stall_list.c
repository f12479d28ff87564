/* t_shm_stall_list.c — a member whose stopped process holds the locks of
 * its segments cannot make root's listing (SHM_STAT, `ripcs -m`) take a
 * second per segment (red-team pass, docs/security.md and
 * docs/bounded-time.md), both backends.
 *
 * A member (uid 65534) makes 30 segments, names itself the holder of
 * each one's lock (pid and start time in the lock word: it maps the files,
 * so it is taken for a live holder, as an honest process stopped inside a
 * call would be) and stops (SIGSTOP). Root then lists the segments. On
 * the kernel a listing never waits. ripc's SHM_STAT waited for each lock
 * up to the 1 s bound of a control call: `ripcs -m` took 30 s here, and a
 * member with 4096 segments made it take over an hour. A listing now
 * waits at most the IPC_NOWAIT bound (10 ms) per segment and reports the
 * attach counts as they stand. */
#include "ripc_sysv.h"
#include "tap.h"

#define N 30

static int member(int wfd) {
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) return 2;
    int ids[N];
    uint32_t pid = (uint32_t)getpid();
    unsigned long long start = tap_start_time(0);
    for (int i = 0; i < N; i++) {
        ids[i] = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
        if (ids[i] < 0) return 3;
        if (!backend_is_kernel()) {
            /* RobustLock at 40 in the object header: pid, pad, start time. */
            unsigned char *p = tap_map_object("shm", ids[i]);
            if (!p) return 4;
            memcpy(p + 40, &pid, 4);
            memcpy(p + 48, &start, 8);
            /* stays mapped: a holder maps the file its lock lies in */
        }
    }
    if (write(wfd, ids, sizeof ids) != (ssize_t)sizeof ids) return 5;
    raise(SIGSTOP);
    return 0;
}

int main(void) {
    TAP_SKIP_UNLESS_ROOT();
    int rfd = -1;
    pid_t c = tap_fork_piped(member, 60, &rfd);
    ok(c > 0, "the member's process");
    int ids[N];
    int got = c > 0 && read(rfd, ids, sizeof ids) == (ssize_t)sizeof ids;
    int st = 0;
    int stopped = got && waitpid(c, &st, WUNTRACED) == c && WIFSTOPPED(st);
    ok(stopped, "the member made %d segments, holds their locks and is stopped", N);
    if (!stopped) {
        if (c > 0) {
            kill(c, SIGKILL);
            waitpid(c, NULL, 0);
        }
        return done_testing();
    }
    struct shm_info si;
    int maxidx = shmctl(0, SHM_INFO, (struct shmid_ds *)&si);
    double t0 = tap_now();
    int listed = 0;
    for (int i = 0; i <= maxidx; i++) {
        struct shmid_ds ds;
        if (shmctl(i, SHM_STAT, &ds) >= 0) listed++;
    }
    double took = tap_now() - t0;
    ok(listed >= N, "SHM_STAT lists the %d segments (%d listed)", N, listed);
    ok(took < 3, "in %.2f s (at most 0.1 s a segment; was 1 s each)", took);
    t0 = tap_now();
    int r = tap_tool("ripcs", "-m");
    took = tap_now() - t0;
    ok(r == 0 && took < 3, "ripcs -m in %.2f s (status %d)", took, r);
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    int removed = 0;
    t0 = tap_now();
    for (int i = 0; i < N; i++) removed += shmctl(ids[i], IPC_RMID, NULL) == 0;
    ok(removed == N, "once the member is dead, root removes them all (%d, %.2f s)", removed, tap_now() - t0);
    return done_testing();
}
