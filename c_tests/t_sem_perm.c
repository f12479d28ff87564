/* t_sem_perm.c — permissions as the kernel checks them, seen by an
 * unprivileged user (a fork child after setgid/setuid 65534; everything
 * else runs as root, which bypasses them): read for GETVAL/IPC_STAT and
 * wait-for-zero, alter for SETVAL and semop changes, owner for IPC_SET and
 * IPC_RMID. Drop-in API; both backends. */
#pragma GCC diagnostic ignored "-Wcomment" /* the header comment names sys headers with a glob */
#include "ripc_sysv.h"
#include "tap.h"
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

static int op(int id, int o) {
    struct sembuf b = {0, (short)o, IPC_NOWAIT};
    return semop(id, &b, 1);
}

/* Index of set `id` for SEM_STAT, or -1. */
static int index_of(int id) {
    struct seminfo si;
    struct semid_ds ds;
    int max = semctl(0, 0, IPC_INFO, (struct semid_ds *)(void *)&si);
    for (int i = 0; i <= max; i++)
        if (semctl(i, 0, SEM_STAT_ANY, &ds) == id) return i;
    return -1;
}

/* The fresh-process checks: run as `t_sem_perm stranger ID N` by an
 * exec'ed child (uid 65534) on set ID, numbering its tests from N + 1. A
 * fresh process has not opened the set before: a 0600 set of root's cannot
 * even be opened, which must still read as the kernel's errors. */
static int stranger(int id, int n) {
    struct semid_ds ds;
    memset(&ds, 0, sizeof ds);
    tap_n = n;
    tap_same_libripc();
    ok(geteuid() == 65534, "exec'ed child runs as uid 65534");
    ok_errno(semctl(id, 0, IPC_RMID) == -1, EPERM, "fresh process: IPC_RMID by a stranger: EPERM");
    ok_errno(semctl(id, 0, IPC_SET, &ds) == -1, EPERM, "fresh process: IPC_SET by a stranger: EPERM");
    ok_errno(semctl(id, 0, GETVAL) == -1, EACCES, "fresh process: GETVAL on 0600: EACCES");
    ok_errno(semctl(id, 0, IPC_STAT, &ds) == -1, EACCES, "fresh process: IPC_STAT on 0600: EACCES");
    fflush(stdout);
    return tap_failed ? 1 : 0;
}
#define STRANGER_TESTS 6

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "stranger") == 0)
        return stranger(atoi(argv[2]), atoi(argv[3]));
    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root to switch to an unprivileged user\n");
        return 0;
    }
    key_t key = (key_t)(0x5e9e0000 ^ (getpid() << 4));
    int priv = semget(key, 1, IPC_CREAT | 0600);  /* owner only */
    int ro = semget(IPC_PRIVATE, 1, IPC_CREAT | 0644); /* others read */
    int rw = semget(IPC_PRIVATE, 1, IPC_CREAT | 0666); /* everyone */
    int mine = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600); /* given to 65534 */
    ok(priv >= 0 && ro >= 0 && rw >= 0 && mine >= 0, "four sets: 0600 (keyed), 0644, 0666, 0600");
    struct semid_ds ds;
    semctl(mine, 0, IPC_STAT, &ds);
    ds.sem_perm.uid = 65534;
    ds.sem_perm.gid = 65534;
    ok(semctl(mine, 0, IPC_SET, &ds) == 0, "IPC_SET gives the last one to uid 65534");
    int ipriv = index_of(priv), iro = index_of(ro);
    ok(ipriv >= 0 && iro >= 0, "their indexes for SEM_STAT");

    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        if (setgroups(0, NULL) || setgid(65534) || setuid(65534)) {
            printf("not ok - cannot become 65534\n");
            _exit(1);
        }
        ok(geteuid() == 65534, "child runs as uid 65534");
        ok_errno(semget(key, 1, 0600) == -1, EACCES, "semget of a 0600 set of root's: EACCES");
        ok_errno(semctl(priv, 0, GETVAL) == -1, EACCES, "GETVAL on 0600: EACCES");
        ok_errno(semctl(priv, 0, IPC_STAT, &ds) == -1, EACCES, "IPC_STAT on 0600: EACCES");
        ok_errno(op(priv, 1) == -1, EACCES, "semop +1 on 0600: EACCES");
        ok_errno(op(priv, 0) == -1, EACCES, "wait-for-zero on 0600: EACCES");
        ok_errno(semctl(priv, 0, SETVAL, 1) == -1, EACCES, "SETVAL on 0600: EACCES");
        ok_errno(semctl(ipriv, 0, SEM_STAT, &ds) == -1, EACCES, "SEM_STAT on 0600: EACCES");
        ok_errno(semctl(priv, 0, IPC_SET, &ds) == -1, EPERM, "IPC_SET by a stranger: EPERM");
        ok_errno(semctl(priv, 0, IPC_RMID) == -1, EPERM, "IPC_RMID by a stranger: EPERM");
        ok(semctl(ro, 0, GETVAL) == 0, "GETVAL on 0644: allowed");
        ok(op(ro, 0) == 0, "wait-for-zero (a read) on 0644: allowed");
        ok_errno(op(ro, 1) == -1, EACCES, "semop +1 on 0644: EACCES");
        ok_errno(semctl(ro, 0, SETVAL, 1) == -1, EACCES, "SETVAL on 0644: EACCES");
        ok(semctl(iro, 0, SEM_STAT, &ds) == ro, "SEM_STAT on 0644: allowed");
        ok(semctl(iro, 0, SEM_STAT_ANY, &ds) == ro, "SEM_STAT_ANY on 0644: allowed");
        ok(op(rw, 1) == 0 && op(rw, -1) == 0, "semop on 0666: allowed");
        ok(semctl(rw, 0, SETVAL, 3) == 0, "SETVAL on 0666: allowed");
        ok_errno(semctl(rw, 0, IPC_RMID) == -1, EPERM, "IPC_RMID of a 0666 set by a stranger: EPERM");
        ok(semctl(mine, 0, SETVAL, 2) == 0 && semctl(mine, 0, GETVAL) == 2, "the owner (65534) uses its 0600 set");
        ok(semctl(mine, 0, IPC_RMID) == 0, "the owner (not the creator) removes it");
        fflush(stdout);
        _exit(tap_failed ? 1 : 0);
    }
    int st;
    waitpid(c, &st, 0);
    tap_n += 21; /* the child's tests */
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the unprivileged child's checks all passed");

    /* The same owner checks from a fresh (exec'ed) process. */
    st = tap_exec_stranger("t_sem_perm", priv);
    tap_n += STRANGER_TESTS;
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the exec'ed unprivileged child's checks all passed");
    ok(semctl(priv, 0, GETVAL) == 0, "the 0600 set is still there");
    ok(semctl(rw, 0, GETVAL) == 3, "its SETVAL on the 0666 set took effect");
    ok_errno(semctl(mine, 0, GETVAL) == -1, EINVAL, "the set it removed is gone");
    /* The caller's credentials as they stand: a process that operated on
     * the 0600 set as root (its credentials then cached for 10 ms, under
     * ripc) and then became 65534 is refused once that has aged (the
     * kernel refuses at once). A clock that did not advance would keep
     * the cached root for ever. */
    fflush(stdout);
    c = fork();
    if (c == 0) {
        if (op(priv, 1) != 0 || op(priv, -1) != 0) _exit(2);
        if (setgroups(0, NULL) || setgid(65534) || setuid(65534)) _exit(3);
        usleep(30000);
        if (op(priv, 1) != -1 || errno != EACCES) _exit(4);
        _exit(0);
    }
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "a child that used the 0600 set as root, then became 65534: refused 30 ms later (EACCES; status %d)",
       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    ok(semctl(priv, 0, GETVAL) == 0, "... and it changed nothing");
    ok(semctl(priv, 0, IPC_RMID) == 0 && semctl(ro, 0, IPC_RMID) == 0 && semctl(rw, 0, IPC_RMID) == 0, "cleanup");
    if (!backend_is_kernel()) {
        /* The owner (not the creator) could not unlink the creator's file in
         * the sticky namespace directory; the set is marked removed, and the
         * creator's next listing heals the leftover name. */
        struct seminfo si;
        semctl(0, 0, SEM_INFO, (struct semid_ds *)(void *)&si);
        char cmd[512];
        snprintf(cmd, sizeof cmd, "ls \"%s\" | grep -q '^sem\\.[0-9]'", getenv("RIPC_DIR"));
        ok(system(cmd) != 0, "the creator's next SEM_INFO removes the file the owner could not");
    } else {
        ok(1, "# SKIP namespace files exist only under the user backend");
    }
    /* The key of a set removed by a non-creator owner is free again. */
    int k2 = semget(key ^ 0x55, 1, IPC_CREAT | IPC_EXCL | 0600);
    semctl(k2, 0, IPC_STAT, &ds);
    ds.sem_perm.uid = 65534;
    semctl(k2, 0, IPC_SET, &ds);
    fflush(stdout);
    c = fork();
    if (c == 0) {
        if (setgroups(0, NULL) || setgid(65534) || setuid(65534)) _exit(1);
        _exit(semctl(k2, 0, IPC_RMID) == 0 ? 0 : 2);
    }
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "uid 65534, made owner by IPC_SET, removes a keyed set");
    ok_errno(semget(key ^ 0x55, 1, 0600) == -1, ENOENT, "its key finds nothing any more");
    int k3 = semget(key ^ 0x55, 1, IPC_CREAT | IPC_EXCL | 0600);
    ok(k3 >= 0 && k3 != k2, "the key can be created again, with a new id");
    ok(semget(key ^ 0x55, 1, 0600) == k3, "and finds the new set");
    semctl(k3, 0, IPC_RMID);
    if (!backend_is_kernel()) {
        struct seminfo si;
        semctl(0, 0, SEM_INFO, (struct semid_ds *)(void *)&si);
        /* The stale key name of the first set may stay (harmless: it names
         * a removed set); remove it with the files of this test. */
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -f \"%s\"/sem.key.*", getenv("RIPC_DIR"));
        if (system(cmd)) diag("cleanup failed");
    }
    return done_testing();
}
