/* t_shm_data_fifo.c — a member cannot hang another process's shmat by
 * putting a FIFO in place of its segment's payload (red-team pass,
 * docs/security.md), both backends.
 *
 * A member (uid 65534) makes a 0644 segment, then (user backend) unlinks
 * its payload file `shm.data.<ino>` — its own, in the sticky directory —
 * and makes a FIFO, mode 0444, under that name. Root's
 * shmat(SHM_RDONLY) opens the payload read-only: a FIFO opened so waits
 * for a writer, and root's shmat hung for ever. On the kernel it attaches
 * the segment; ripc now refuses the planted file at once (EIO). */
#include "ripc_sysv.h"
#include "tap.h"

#include <sys/stat.h>

static int member(int wfd) {
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) return 2;
    int m = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0644);
    if (m < 0) return 3;
    if (!backend_is_kernel()) {
        char p[4096];
        struct stat st;
        snprintf(p, sizeof p, "%s/shm.%d", getenv("RIPC_DIR"), m % 32768);
        if (stat(p, &st) != 0) return 4;
        snprintf(p, sizeof p, "%s/shm.data.%lu", getenv("RIPC_DIR"), (unsigned long)st.st_ino);
        umask(0);
        if (unlink(p) != 0 || mkfifo(p, 0444) != 0) return 5;
    }
    return write(wfd, &m, sizeof m) == (ssize_t)sizeof m ? 0 : 6;
}

int main(void) {
    TAP_SKIP_UNLESS_ROOT();
    int rfd = -1, m = -1, st = 0;
    pid_t c = tap_fork_piped(member, 30, &rfd);
    int got = c > 0 && read(rfd, &m, sizeof m) == (ssize_t)sizeof m;
    if (c > 0) waitpid(c, &st, 0);
    ok(got && WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "the member's 0644 segment %d, its payload replaced by a FIFO (user backend) (status 0x%x)", m, st);
    if (!got) return done_testing();
    double t0 = tap_now();
    fflush(stdout);
    pid_t v = fork();
    if (v == 0) {
        alarm(10);
        void *a = shmat(m, NULL, SHM_RDONLY);
        if (a == (void *)-1) _exit(errno == EIO ? 1 : 2);
        shmdt(a);
        _exit(0);
    }
    waitpid(v, &st, 0);
    double took = tap_now() - t0;
    ok(WIFEXITED(st) && took < 2, "root's shmat(SHM_RDONLY) returns (status 0x%x%s, %.2f s)", st,
       WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? ": hung, ended by its 10 s alarm" : "", took);
    if (backend_is_kernel())
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "on the kernel it attaches the segment");
    else
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 1, "ripc refuses the planted payload: EIO");
    ok(shmctl(m, IPC_RMID, NULL) == 0, "root removes the segment (the planted name goes with it)");
    return done_testing();
}
