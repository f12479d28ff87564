/* t_sem_full.c — semget on a full file system fails (ENOMEM) instead of
 * killing the caller with SIGBUS: on a 1 MiB tmpfs in a private mount
 * namespace (root only; skipped otherwise) holding the namespace
 * directory, filled to the last byte by a plain file. A set made before
 * the fill keeps working (its header, values, journal and undo slots are
 * reserved; the sleeper slots never written are not read): semop, SETVAL,
 * SEM_UNDO, GETNCNT, IPC_RMID. With
 * RIPC_BACKEND=kernel the sets do not live on that tmpfs: all succeed. */
#pragma GCC diagnostic ignored "-Wcomment" /* the header comment names sys headers with a glob */
#include "ripc_sysv.h"
#include "tap.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs as `t_sem_full full N FD` in the private mount namespace; numbers
 * its tests from N + 1 and writes {tap_n, tap_failed} to FD. */
static int full(int n, int fd) {
    tap_n = n;
    int kernel = backend_is_kernel();
    int before = semget(IPC_PRIVATE, 4, IPC_CREAT | 0600);
    ok(before >= 0, "a set made while the tmpfs has room");
    char path[4096];
    snprintf(path, sizeof path, "%s/filler", getenv("RIPC_TEST_MNT"));
    int f = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    static char page[4096];
    long wrote = 0;
    while (f >= 0 && wrote < (1L << 30)) {
        ssize_t w = write(f, page, sizeof page);
        if (w <= 0) break;
        wrote += w;
    }
    while (f >= 0 && write(f, page, 1) == 1) wrote++;
    diag("filler file: %ld bytes", wrote);
    errno = 0;
    int id = semget(IPC_PRIVATE, 4, IPC_CREAT | 0600);
    int e = errno;
    if (kernel)
        ok(id >= 0, "tmpfs full: the kernel's semget does not care");
    else
        ok(id == -1 && (e == ENOMEM || e == ENOSPC), "tmpfs full to the last byte: semget -> ENOMEM (%d, errno %d)", id,
           e);
    if (id >= 0) semctl(id, 0, IPC_RMID);
    struct sembuf up = {1, 2, 0}, down = {1, -1, 0};
    ok(semop(before, &up, 1) == 0 && semop(before, &down, 1) == 0 && semctl(before, 1, GETVAL) == 1,
       "the set made before the fill still works");
    ok(semctl(before, 0, SETVAL, 5) == 0 && semctl(before, 0, GETVAL) == 5, "SETVAL on it too");
    struct sembuf uup = {2, 1, SEM_UNDO}, udown = {2, -1, SEM_UNDO};
    ok(semop(before, &uup, 1) == 0 && semop(before, &udown, 1) == 0, "SEM_UNDO operations on it");
    ok(semctl(before, 0, GETNCNT) == 0, "GETNCNT on it (reads every sleeper slot that was ever used)");
    ok(semctl(before, 0, IPC_RMID) == 0, "IPC_RMID of it, the file system still full");
    if (f >= 0) close(f);
    unlink(path);
    int res[2] = {tap_n, tap_failed};
    (void)!write(fd, res, sizeof res);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "full") == 0) return full(atoi(argv[2]), atoi(argv[3]));
    if (geteuid() != 0) {
        printf("ok %d - full tmpfs # SKIP needs root for a private mount namespace\n", ++tap_n);
        return done_testing();
    }
    char mnt[] = "/tmp/ripc-sem-full.XXXXXX";
    if (!mkdtemp(mnt)) return 1;
    int fd[2], setup[2];
    if (pipe(fd) != 0 || pipe2(setup, O_CLOEXEC) != 0) return 1;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        close(fd[0]);
        close(setup[0]);
        if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("tmpfs", mnt, "tmpfs", 0, "size=1m") != 0) {
            int e = errno;
            (void)!write(setup[1], &e, sizeof e);
            _exit(1);
        }
        char ns[4096], sn[16], sfd[16];
        snprintf(ns, sizeof ns, "%s/ns", mnt);
        snprintf(sn, sizeof sn, "%d", tap_n);
        snprintf(sfd, sizeof sfd, "%d", fd[1]);
        setenv("RIPC_DIR", ns, 1);
        setenv("RIPC_TEST_MNT", mnt, 1);
        execl("/proc/self/exe", "t_sem_full", "full", sn, sfd, (char *)NULL);
        int e = errno;
        (void)!write(setup[1], &e, sizeof e);
        _exit(1);
    }
    close(fd[1]);
    close(setup[1]);
    int e = 0;
    int could_not = read(setup[0], &e, sizeof e) == sizeof e;
    close(setup[0]);
    int res[2] = {-1, 0};
    int got = !could_not && read(fd[0], res, sizeof res) == sizeof res;
    close(fd[0]);
    int st = 0;
    waitpid(c, &st, 0);
    rmdir(mnt);
    if (could_not) {
        printf("ok %d - full tmpfs # SKIP no private mount namespace or tmpfs here (%s)\n", ++tap_n, strerror(e));
        return done_testing();
    }
    if (got) {
        tap_n = res[0];
        tap_failed += res[1];
    }
    ok(got && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the full-tmpfs process ended normally (status 0x%x%s)", st,
       WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS ? ", SIGBUS" : "");
    return done_testing();
}
