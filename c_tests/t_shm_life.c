/* t_shm_life.c — shm_nattch across fork, exit, exec and SIGKILL, and
 * deferred destruction of a removed segment whose last attacher dies. */
/* ripc_sysv.h has a slash-star inside its top comment: -Wcomment (reported). */
#pragma GCC diagnostic ignored "-Wcomment"
#include "ripc_sysv.h"
#include "tap.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static struct shmid_ds ds;

static long nattch(int id) {
    if (shmctl(id, IPC_STAT, &ds) != 0) return -1;
    return (long)ds.shm_nattch;
}

/* Forks a child that attaches `extra` more times, reports on a pipe, then
 * waits for SIGKILL (or execs `sleep` when exec_it). Returns its pid once
 * it has reported (or exec'd). */
static pid_t spawn(int id, int extra, int exec_it) {
    int fd[2];
    if (pipe2(fd, O_CLOEXEC) != 0) return -1;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        close(fd[0]);
        for (int i = 0; i < extra; i++)
            if (shmat(id, NULL, 0) == (void *)-1) _exit(2);
        if (exec_it) {
            execl("/bin/sleep", "sleep", "30", (char *)NULL);
            _exit(3);
        }
        char b = 'r';
        if (write(fd[1], &b, 1) != 1) _exit(4);
        for (;;) pause();
    }
    close(fd[1]);
    char b;
    (void)!read(fd[0], &b, 1); /* a byte, or EOF at exec */
    close(fd[0]);
    if (exec_it) {
        /* EOF comes while the child is still inside execve: the kernel
         * closes the close-on-exec descriptors in order, this pipe (low)
         * before ripc's liveness mark (fd >= 60), so under ripc the
         * exec'ing child may count for those microseconds (README,
         * Differences). Wait for the exec to be complete — its new name,
         * set after every close-on-exec descriptor is closed — as a
         * program would see it after execve returned. Bounded: 2 s. */
        char path[64], comm[32] = "";
        snprintf(path, sizeof path, "/proc/%d/comm", (int)c);
        for (int i = 0; i < 2000 && strcmp(comm, "sleep\n") != 0; i++) {
            FILE *f = fopen(path, "r");
            if (!f || !fgets(comm, sizeof comm, f)) comm[0] = 0;
            if (f) fclose(f);
            if (strcmp(comm, "sleep\n") != 0) usleep(1000);
        }
    }
    return c;
}

static int reap(pid_t c) {
    int st = 0;
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    return st;
}

int main(void) {
    int id = shmget(IPC_PRIVATE, 8192, 0600);
    ok(id >= 0, "shmget IPC_PRIVATE");
    char *p = shmat(id, NULL, 0);
    ok(p != (void *)-1, "shmat");
    ok(nattch(id) == 1, "nattch 1");

    /* fork: the child inherits the attachment, and it counts. */
    int fd[2];
    (void)!pipe(fd);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        struct shmid_ds d;
        long n = shmctl(id, IPC_STAT, &d) == 0 ? (long)d.shm_nattch : -1;
        p[0] = 'c';
        (void)!write(fd[1], &n, sizeof n);
        _exit(0);
    }
    long seen = -1;
    (void)!read(fd[0], &seen, sizeof seen);
    int st = 0;
    waitpid(c, &st, 0);
    close(fd[0]); close(fd[1]);
    ok(seen == 2, "a forked child's inherited attachment counts (child saw %ld)", seen);
    ok(p[0] == 'c', "the child wrote through the inherited attachment");
    ok(nattch(id) == 1, "after the child exits, nattch is 1 again (%ld)", nattch(id));

    /* A child that attaches twice and is killed. */
    c = spawn(id, 2, 0);
    ok(nattch(id) == 4, "child: inherited + 2 attachments, nattch 4 (%ld)", nattch(id));
    st = reap(c);
    ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child killed with SIGKILL");
    ok(nattch(id) == 1, "a SIGKILLed attacher stops counting (%ld)", nattch(id));
    ok(ds.shm_lpid != 0 && ds.shm_dtime != 0, "lpid and dtime set");

    /* exec drops the attachments. */
    c = spawn(id, 1, 1);
    ok(nattch(id) == 1, "an exec'd attacher stops counting (%ld)", nattch(id));
    reap(c);
    ok(nattch(id) == 1, "nattch 1");

    /* shmdt in this process, then the only attacher is a child: remove
     * the segment, kill the child, and the segment is destroyed. */
    c = spawn(id, 1, 0);
    ok(shmdt(p) == 0, "parent detaches");
    ok(nattch(id) == 2, "the child's two attachments remain (%ld)", nattch(id));
    ok(shmctl(id, IPC_RMID, NULL) == 0, "IPC_RMID while the child attaches");
    ok(shmctl(id, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & SHM_DEST), "SHM_DEST");
    reap(c);
    struct shminfo si;
    shmctl(0, IPC_INFO, (struct shmid_ds *)&si); /* anyone notices the death */
    ok_errno(shmctl(id, IPC_STAT, &ds) == -1, EINVAL, "destroyed once its last attacher died");

    /* Same, with the last attacher exiting normally. */
    id = shmget(IPC_PRIVATE, 4096, 0600);
    p = shmat(id, NULL, 0);
    fflush(stdout);
    c = fork();
    if (c == 0) {
        usleep(200 * 1000);
        _exit(0);
    }
    ok(shmdt(p) == 0 && shmctl(id, IPC_RMID, NULL) == 0, "removed while a forked child attaches");
    ok(nattch(id) == 1, "nattch 1 (the child)");
    waitpid(c, &st, 0);
    ok_errno(shmctl(id, IPC_STAT, &ds) == -1, EINVAL, "destroyed after the child exits");
    return done_testing();
}
