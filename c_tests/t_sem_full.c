/* t_sem_full.c — semget on a full file system fails (ENOMEM) instead of
 * killing the caller with SIGBUS: on a 1 MiB tmpfs in a private mount
 * namespace (root only; skipped otherwise) holding the namespace
 * directory, filled to the last byte by a plain file. A set made before
 * the fill keeps working for what writes only its header and values
 * (reserved at semget; the sleeper slots never written are not read):
 * semop without SEM_UNDO, SETVAL, GETALL, GETNCNT, IPC_RMID. Its tail
 * (undo slots and journal) is reserved by the first operation that needs
 * it: its first SEM_UNDO operation, SETALL or sleeper then fails with
 * ENOMEM (as the kernel's semop that cannot allocate its undo structure)
 * and changes nothing, and succeeds once space is freed. A set whose tail
 * was reserved before the fill (a SEM_UNDO operation) keeps working for
 * everything. With RIPC_BACKEND=kernel the sets do not live on that
 * tmpfs: all succeed. */
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
    struct sembuf uup = {2, 1, SEM_UNDO}, udown = {2, -1, SEM_UNDO};
    int used = semget(IPC_PRIVATE, 4, IPC_CREAT | 0600);
    ok(used >= 0 && semop(used, &uup, 1) == 0 && semop(used, &udown, 1) == 0,
       "another, used with SEM_UNDO while the tmpfs has room (its tail reserved)");
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
    unsigned short vals[4] = {0};
    ok(semctl(before, 0, GETALL, vals) == 0 && vals[0] == 5 && vals[1] == 1, "GETALL on it");
    /* Its first SEM_UNDO operation needs its undo slots and journal. */
    errno = 0;
    int r = semop(before, &uup, 1);
    e = errno;
    if (kernel)
        ok(r == 0 && semop(before, &udown, 1) == 0, "SEM_UNDO operations on it");
    else
        ok(r == -1 && e == ENOMEM && semctl(before, 2, GETVAL) == 0,
           "its first SEM_UNDO operation: ENOMEM (no room for its undo slots), value unchanged (%d, errno %d)", r, e);
    unsigned short seven[4] = {7, 7, 7, 7};
    errno = 0;
    r = semctl(before, 0, SETALL, seven);
    e = errno;
    if (kernel)
        ok(r == 0, "SETALL on it");
    else
        ok(r == -1 && e == ENOMEM && semctl(before, 0, GETVAL) == 5 && semctl(before, 1, GETVAL) == 1,
           "its first SETALL: ENOMEM (no room for its journal), values unchanged (%d, errno %d)", r, e);
    struct sembuf wait3 = {3, -1, 0}, zero0 = {0, 0, 0};
    struct timespec ms20 = {0, 20 * 1000000};
    errno = 0;
    r = semtimedop(before, &zero0, 1, &ms20);
    e = errno;
    ok(r == -1 && (e == EAGAIN || (!kernel && e == ENOMEM)),
       "its first sleeper: EAGAIN (timed out) or ENOMEM (no room for the journal its grant needs), not SIGBUS (%d, "
       "errno %d)",
       r, e);
    ok(semctl(before, 0, GETNCNT) == 0, "GETNCNT on it (reads every sleeper slot that was ever used)");
    /* The set whose tail was reserved before the fill: everything. */
    ok(semop(used, &uup, 1) == 0 && semop(used, &udown, 1) == 0, "SEM_UNDO operations on the set used before");
    ok(semctl(used, 0, SETVAL, 5) == 0 && semctl(used, 0, SETALL, seven) == 0 && semctl(used, 3, GETVAL) == 7,
       "SETVAL and SETALL on it");
    ok(semctl(used, 0, GETNCNT) == 0, "GETNCNT on it");
    /* Nobody ever slept on it: a sleeper's slot (its operations past
     * the file's first page at the default semopm) needs a page of the
     * sleeper table that the file does not hold yet. */
    struct sembuf take3 = {3, -7, 0};
    ok(semop(used, &take3, 1) == 0, "its semaphore 3 back to 0");
    fflush(stdout);
    pid_t first = fork();
    if (first == 0) {
        alarm(10);
        semop(used, &wait3, 1);
        _exit(0);
    }
    for (int i = 0; i < 500 && semctl(used, 3, GETNCNT) < 1; i++) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    errno = 0;
    int slept = semtimedop(used, &wait3, 1, &ms20);
    int se = errno;
    kill(first, SIGKILL);
    waitpid(first, NULL, 0);
    ok(slept == -1 && (se == EAGAIN || (!kernel && se == ENOMEM)),
       "a semtimedop that must sleep: EAGAIN (timed out) or ENOMEM (no room for its sleeper slot), not SIGBUS (%d, "
       "errno %d)",
       slept, se);
    ok(semctl(used, 0, IPC_RMID) == 0, "IPC_RMID of it, the file system still full");
    /* Space freed: the first set's first SEM_UNDO operation and SETALL
     * reserve its tail and succeed. */
    if (f >= 0) close(f);
    unlink(path);
    ok(semop(before, &uup, 1) == 0 && semop(before, &udown, 1) == 0, "space freed: SEM_UNDO operations on the first set");
    ok(semctl(before, 0, SETALL, seven) == 0 && semctl(before, 2, GETVAL) == 7, "and SETALL");
    ok(semctl(before, 0, IPC_RMID) == 0, "IPC_RMID of it");
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
