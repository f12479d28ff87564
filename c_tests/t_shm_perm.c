/* t_shm_perm.c — EACCES and EPERM for an unprivileged caller (a child that
 * drops to uid/gid 65534), in the kernel's order of checks. */
/* ripc_sysv.h has a slash-star inside its top comment: -Wcomment (reported). */
#pragma GCC diagnostic ignored "-Wcomment"
#include "ripc_sysv.h"
#include "tap.h"
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

static int index_of(int id) {
    struct shm_info su;
    struct shmid_ds ds;
    int max = shmctl(0, SHM_INFO, (struct shmid_ds *)&su);
    for (int i = 0; i <= max; i++)
        if (shmctl(i, SHM_STAT_ANY, &ds) == id) return i;
    return -1;
}

/* The fresh-process checks: run as `t_shm_perm stranger ID N` by an
 * exec'ed child (uid 65534) on root's 0600 segment ID, numbering its tests
 * from N + 1. A fresh process has not opened the segment before and cannot
 * open its file, which must still read as the kernel's errors. */
static int stranger(int id, int n) {
    struct shmid_ds ds;
    memset(&ds, 0, sizeof ds);
    tap_n = n;
    tap_same_libripc();
    ok(geteuid() == 65534, "exec'ed child runs as uid 65534");
    ok_errno(shmctl(id, IPC_RMID, NULL) == -1, EPERM, "fresh process: IPC_RMID by a stranger -> EPERM");
    ok_errno(shmctl(id, IPC_SET, &ds) == -1, EPERM, "fresh process: IPC_SET by a stranger -> EPERM");
    ok_errno(shmctl(id, SHM_LOCK, NULL) == -1, EPERM, "fresh process: SHM_LOCK by a stranger -> EPERM");
    ok_errno(shmctl(id, IPC_STAT, &ds) == -1, EACCES, "fresh process: IPC_STAT on 0600 -> EACCES");
    fflush(stdout);
    return tap_failed ? 1 : 0;
}
#define STRANGER_TESTS 6

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "stranger") == 0) return stranger(atoi(argv[2]), atoi(argv[3]));
    key_t ka = (key_t)(0x53000000 | (getpid() & 0xffffff));
    int a = shmget(ka, 4096, IPC_CREAT | IPC_EXCL | 0602); /* other: write only */
    int b = shmget(IPC_PRIVATE, 4096, 0644);               /* other: read only */
    int c = shmget(IPC_PRIVATE, 4096, 0666);               /* other: read-write */
    ok(a >= 0 && b >= 0 && c >= 0, "three segments made by root");
    int ia = index_of(a), ib = index_of(b);
    ok(ia >= 0 && ib >= 0, "their indexes");

    int fd[2];
    if (pipe(fd) != 0) return 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
            ok(0, "drop to uid 65534");
        } else {
            struct shmid_ds ds;
            ok(geteuid() == 65534, "child runs as uid 65534");
            ok(shmget(ka, 0, 0) == a, "shmget asking for no access finds a 0602 segment");
            ok_errno(shmget(ka, 0, 0400) == -1, EACCES, "shmget asking for read of a 0602 segment -> EACCES");
            ok_errno(shmat(a, NULL, 0) == (void *)-1, EACCES, "shmat read-write without read permission -> EACCES");
            ok_errno(shmat(a, NULL, SHM_RDONLY) == (void *)-1, EACCES, "shmat SHM_RDONLY without read permission -> EACCES");
            ok_errno(shmctl(a, IPC_STAT, &ds) == -1, EACCES, "IPC_STAT without read permission -> EACCES");
            ok_errno(shmctl(ia, SHM_STAT, &ds) == -1, EACCES, "SHM_STAT without read permission -> EACCES");
            ok(shmctl(ia, SHM_STAT_ANY, &ds) == a, "SHM_STAT_ANY needs no read permission");
            ok_errno(shmctl(a, IPC_RMID, NULL) == -1, EPERM, "IPC_RMID by a stranger -> EPERM");
            ok_errno(shmctl(a + 5 * 32768, IPC_STAT, &ds) == -1, EINVAL, "a stale id -> EINVAL before any permission check");

            char *p = shmat(b, NULL, SHM_RDONLY);
            ok(p != (void *)-1, "shmat SHM_RDONLY of a 0644 segment");
            if (p != (void *)-1) shmdt(p);
            ok_errno(shmat(b, NULL, 0) == (void *)-1, EACCES, "shmat read-write of a 0644 segment -> EACCES");
            ok(shmctl(b, IPC_STAT, &ds) == 0, "IPC_STAT with read permission");
            ok(shmctl(ib, SHM_STAT, &ds) == b, "SHM_STAT with read permission");
            ds.shm_perm.mode = 0666;
            ok_errno(shmctl(b, IPC_SET, &ds) == -1, EPERM, "IPC_SET by a stranger -> EPERM");

            p = shmat(c, NULL, 0);
            ok(p != (void *)-1, "shmat read-write of a 0666 segment");
            if (p != (void *)-1) { p[0] = 'x'; shmdt(p); }
            ok_errno(shmctl(c, IPC_RMID, NULL) == -1, EPERM, "IPC_RMID of a 0666 segment by a stranger -> EPERM");
            ok_errno(shmctl(c, SHM_LOCK, NULL) == -1, EPERM, "SHM_LOCK by a stranger -> EPERM");
        }
        int res[2] = {tap_n, tap_failed};
        (void)!write(fd[1], res, sizeof res);
        _exit(0);
    }
    close(fd[1]);
    int res[2] = {0, 1};
    if (read(fd[0], res, sizeof res) != (ssize_t)sizeof res) res[1] = 1;
    waitpid(pid, NULL, 0);
    tap_n = res[0];
    tap_failed += res[1];

    /* Giving the segment to the unprivileged user lets it remove it. */
    struct shmid_ds ds;
    ok(shmctl(c, IPC_STAT, &ds) == 0, "IPC_STAT");
    ds.shm_perm.uid = 65534;
    ds.shm_perm.gid = 65534;
    ok(shmctl(c, IPC_SET, &ds) == 0, "IPC_SET: owner 65534");
    ok(shmctl(c, IPC_STAT, &ds) == 0 && ds.shm_perm.uid == 65534 && ds.shm_perm.cuid == 0,
       "owner changed, creator kept");
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
        _exit(shmctl(c, IPC_RMID, NULL) == 0 ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the new owner may IPC_RMID");
    ok_errno(shmctl(c, IPC_STAT, &ds) == -1, EINVAL, "removed");

    /* The owner checks from a fresh (exec'ed) process. */
    int d = shmget(IPC_PRIVATE, 4096, 0600);
    ok(d >= 0, "a 0600 segment of root's");
    st = tap_exec_stranger("t_shm_perm", d);
    tap_n += STRANGER_TESTS;
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the exec'ed unprivileged child's checks all passed");
    ok(shmctl(d, IPC_STAT, &ds) == 0 && ds.shm_perm.uid == 0 && ds.shm_perm.mode == 0600,
       "the 0600 segment is still there, unchanged");
    ok(shmctl(a, IPC_RMID, NULL) == 0 && shmctl(b, IPC_RMID, NULL) == 0 && shmctl(d, IPC_RMID, NULL) == 0,
       "root removes the rest");
    return done_testing();
}
