/* t_ns_fifo.c — FIFOs planted at the namespace's own names never block a
 * member (red-team pass, docs/security.md), both backends.
 *
 * A shared namespace made by hand (mkdir, group 65534, mode 3770) has no
 * ripc.ns until its owner first uses it. A member (uid 65534) plants
 * FIFOs, mode 0444, at ripc.ns, ripc.seq and ripc.idx. Another member
 * (uid 65533, group 65534) then makes a queue. Its open of ripc.ns for
 * reading and writing is refused (EACCES), so it opened it read-only,
 * which for a FIFO waits for a writer: the first ripc call of every other
 * member hung for ever (as did `ripcs`). Now it answers at once (an error:
 * the directory is not a usable namespace; on the kernel the queue is
 * simply made). Root sees the same refusal. */
#include "ripc_sysv.h"
#include "tap.h"

#include <sys/stat.h>

static char dir[64] = "/dev/shm/ripc-fifo.XXXXXX";

/* In a forked child: become uid/gid, then do `what`; exits 0 when done
 * within its bound, 3 on a failure of its own steps. */
static void as(uid_t uid, gid_t gid, int (*what)(void)) {
    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(2);
    _exit(what());
}

static int plant(void) {
    const char *names[] = {"ripc.ns", "ripc.seq", "ripc.idx"};
    char p[128];
    umask(0);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (mkfifo(p, 0444) != 0) return 3;
    }
    return 0;
}

static int victim(void) {
    alarm(10);
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (q >= 0) msgctl(q, IPC_RMID, NULL);
    /* 0: made (the kernel), 1: refused; both in time. */
    return q >= 0 ? 0 : 1;
}

static int run(uid_t uid, gid_t gid, int (*what)(void), double *took) {
    double t0 = tap_now();
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) as(uid, gid, what);
    int st = 0;
    waitpid(c, &st, 0);
    *took = tap_now() - t0;
    return st;
}

int main(void) {
    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root to run two other users\n");
        return 0;
    }
    ok(mkdtemp(dir) != NULL && chown(dir, 0, 65534) == 0 && chmod(dir, 03770) == 0,
       "a shared namespace made by hand: %s, root:65534, 3770, no ripc.ns yet", dir);
    setenv("RIPC_DIR", dir, 1);
    double took;
    int st = run(65534, 65534, plant, &took);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "member 65534 plants FIFOs (0444) at ripc.ns, ripc.seq, ripc.idx");
    st = run(65533, 65534, victim, &took);
    ok(WIFEXITED(st), "member 65533's msgget returns (status 0x%x%s, %.2f s)", st,
       WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? ": hung, ended by its 10 s alarm" : "", took);
    if (backend_is_kernel())
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "on the kernel the queue is made");
    else
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 1 && took < 2, "ripc refuses the namespace at once");
    /* Root, the directory's owner, is refused as well (it may remove the
     * FIFOs), never blocked. */
    double t0 = tap_now();
    pid_t c = fork();
    if (c == 0) {
        alarm(10);
        int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (q >= 0) msgctl(q, IPC_RMID, NULL);
        _exit(q >= 0 ? 0 : 1);
    }
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && tap_now() - t0 < 2, "root's msgget returns too (status 0x%x, %.2f s)", st, tap_now() - t0);
    const char *names[] = {"ripc.ns", "ripc.seq", "ripc.idx"};
    char p[128];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    ok(rmdir(dir) == 0, "the directory is removed (%s)", strerror(errno));
    return done_testing();
}
