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
    int f = tap_fill_tmpfs();
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
    /* Nobody ever slept on it: the first sleeper's slot shares the
     * file's first page; a second sleeper needs a page of the sleeper
     * table that the file does not hold yet. */
    struct sembuf wait3 = {3, -1, 0};
    struct timespec ms20 = {0, 20 * 1000000};
    fflush(stdout);
    pid_t first = fork();
    if (first == 0) {
        alarm(10);
        semop(before, &wait3, 1);
        _exit(0);
    }
    for (int i = 0; i < 500 && semctl(before, 3, GETNCNT) < 1; i++) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    errno = 0;
    int slept = semtimedop(before, &wait3, 1, &ms20);
    int se = errno;
    kill(first, SIGKILL);
    waitpid(first, NULL, 0);
    ok(slept == -1 && (se == EAGAIN || (!kernel && se == ENOMEM)),
       "a semtimedop that must sleep: EAGAIN (timed out) or ENOMEM (no room for its sleeper slot), not SIGBUS (%d, "
       "errno %d)",
       slept, se);
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
    tap_in_private_tmpfs("t_sem_full", "1m");
    return done_testing();
}
