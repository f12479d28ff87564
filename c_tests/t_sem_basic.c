/* t_sem_basic.c — System V semaphores through the drop-in API: semget,
 * semop, semtimedop and every semctl command, with the kernel's errno in
 * each case. Runs under both backends (RIPC_BACKEND=user|kernel). */
#pragma GCC diagnostic ignored "-Wcomment" /* the header comment names sys headers with a glob */
#include "ripc_sysv.h"
#include "tap.h"
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static key_t test_key(int n) { return (key_t)(0x5e3a0000 ^ (getpid() << 4) ^ n); }

static int op1(int id, int num, int op, int flg) {
    struct sembuf b = {(unsigned short)num, (short)op, (short)flg};
    return semop(id, &b, 1);
}

/* Waits (up to 5 s) until GETNCNT/GETZCNT of sem `num` reaches `want`. */
static int wait_cnt(int id, int num, int cmd, int want) {
    for (int i = 0; i < 500; i++) {
        if (semctl(id, num, cmd) == want) return 1;
        usleep(10000);
    }
    return 0;
}

static void on_usr1(int s) { (void)s; }

int main(void) {
    /* --- semget --- */
    ok_errno(semget(IPC_PRIVATE, -1, 0600) == -1, EINVAL, "semget nsems < 0: EINVAL");
    ok_errno(semget(IPC_PRIVATE, 1000000, 0600) == -1, EINVAL, "semget nsems > semmsl: EINVAL");
    ok_errno(semget(IPC_PRIVATE, 0, 0600) == -1, EINVAL, "semget creating with nsems 0: EINVAL");
    ok_errno(semget(test_key(1), 1, 0600) == -1, ENOENT, "semget of a missing key without IPC_CREAT: ENOENT");
    int k = semget(test_key(1), 3, IPC_CREAT | 0600);
    ok(k >= 0, "semget creates a keyed set of 3");
    ok(semget(test_key(1), 0, 0) == k, "semget nsems 0 opens the existing set");
    ok(semget(test_key(1), 2, 0600) == k, "semget with fewer semaphores opens it");
    ok_errno(semget(test_key(1), 4, 0600) == -1, EINVAL, "semget asking more semaphores than the set has: EINVAL");
    ok_errno(semget(test_key(1), 3, IPC_CREAT | IPC_EXCL | 0600) == -1, EEXIST, "IPC_CREAT|IPC_EXCL on an existing key: EEXIST");
    ok(semctl(k, 0, IPC_RMID) == 0, "IPC_RMID");
    ok_errno(semctl(k, 0, GETVAL) == -1, EINVAL, "GETVAL on a removed id: EINVAL");
    ok_errno(op1(k, 0, 1, 0) == -1, EINVAL, "semop on a removed id: EINVAL");

    /* --- values --- */
    int id = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
    ok(id >= 0, "semget IPC_PRIVATE 3");
    ok(semctl(id, 0, GETVAL) == 0 && semctl(id, 2, GETVAL) == 0, "a new set's values are 0");
    ok(semctl(id, 1, SETVAL, 7) == 0 && semctl(id, 1, GETVAL) == 7, "SETVAL then GETVAL");
    ok(semctl(id, 1, GETPID) == getpid(), "SETVAL records the pid (GETPID)");
    ok_errno(semctl(id, 1, SETVAL, 32768) == -1, ERANGE, "SETVAL 32768: ERANGE");
    ok_errno(semctl(id, 1, SETVAL, -1) == -1, ERANGE, "SETVAL -1: ERANGE");
    ok(semctl(id, 1, SETVAL, 32767) == 0, "SETVAL 32767 (SEMVMX)");
    ok_errno(semctl(id, 3, GETVAL) == -1, EINVAL, "GETVAL semnum out of range: EINVAL");
    ok_errno(semctl(id, -1, SETVAL, 1) == -1, EINVAL, "SETVAL semnum -1: EINVAL");
    unsigned short all[3] = {1, 2, 3}, got[3] = {0};
    ok(semctl(id, 0, SETALL, all) == 0, "SETALL");
    ok(semctl(id, 0, GETALL, got) == 0 && got[0] == 1 && got[1] == 2 && got[2] == 3, "GETALL returns what SETALL set");
    unsigned short big[3] = {1, 40000, 3};
    ok_errno(semctl(id, 0, SETALL, big) == -1, ERANGE, "SETALL with a value above SEMVMX: ERANGE");
    ok(semctl(id, 1, GETVAL) == 2, "a failed SETALL changes nothing");
    ok_errno(semctl(id, 0, 9999) == -1, EINVAL, "unknown command: EINVAL");
    ok_errno(semctl(id, 0, GETALL, (unsigned short *)8) == -1, EFAULT, "GETALL into a bad pointer: EFAULT");

    /* --- semop --- */
    struct sembuf b[2];
    ok_errno(semop(id, b, 0) == -1, EINVAL, "semop nsops 0: EINVAL");
    static struct sembuf many[501];
    ok_errno(semop(id, many, 501) == -1, E2BIG, "semop nsops > semopm: E2BIG");
    ok_errno(semop(id, NULL, 1) == -1, EFAULT, "semop with a NULL sops: EFAULT");
    /* One operation's buffer at each edge the range check knows: the low
     * page, the top of the address space (the range would wrap), and a
     * page unmapped (the probe's answer). */
    ok_errno(semop(id, (struct sembuf *)8, 1) == -1, EFAULT, "semop with sops in page 0: EFAULT");
    ok_errno(semop(id, (struct sembuf *)(uintptr_t)0xfffc, 1) == -1, EFAULT, "semop with sops from below the lowest mappable address into it: EFAULT");
    ok_errno(semop(id, (struct sembuf *)(uintptr_t)-4, 1) == -1, EFAULT, "semop with sops wrapping the address space: EFAULT");
    void *gone = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(gone != MAP_FAILED && munmap(gone, 4096) == 0, "a page mapped and unmapped");
    ok_errno(semop(id, (struct sembuf *)gone, 1) == -1, EFAULT, "semop with sops in an unmapped page: EFAULT");
    ok_errno(op1(id, 3, 1, 0) == -1, EFBIG, "sem_num out of range: EFBIG");
    ok_errno(op1(-1, 0, 1, 0) == -1, EINVAL, "semop on id -1: EINVAL");
    semctl(id, 0, SETVAL, 32767);
    ok_errno(op1(id, 0, 1, 0) == -1, ERANGE, "raising above SEMVMX: ERANGE");
    semctl(id, 0, SETVAL, 1);
    ok_errno(op1(id, 0, -2, IPC_NOWAIT) == -1, EAGAIN, "IPC_NOWAIT when the value is too small: EAGAIN");
    b[0] = (struct sembuf){0, -1, 0};
    b[1] = (struct sembuf){1, -5, IPC_NOWAIT};
    ok_errno(semop(id, b, 2) == -1, EAGAIN, "two operations, the second cannot proceed: EAGAIN");
    ok(semctl(id, 0, GETVAL) == 1, "... and the first was not applied (all or none)");
    b[1] = (struct sembuf){1, -2, 0};
    ok(semop(id, b, 2) == 0, "two operations that can both proceed");
    ok(semctl(id, 0, GETVAL) == 0 && semctl(id, 1, GETVAL) == 0, "... both applied");
    b[0] = (struct sembuf){2, 1, 0};
    b[1] = (struct sembuf){2, -4, 0};
    ok(semop(id, b, 2) == 0 && semctl(id, 2, GETVAL) == 0, "operations apply in order within one call (3+1-4)");
    ok(semctl(id, 2, GETPID) == getpid(), "semop records the pid (GETPID)");
    ok(op1(id, 2, 0, 0) == 0, "wait-for-zero on a zero value returns at once");
    semctl(id, 2, SETVAL, 1);
    ok_errno(op1(id, 2, 0, IPC_NOWAIT) == -1, EAGAIN, "wait-for-zero, IPC_NOWAIT, value 1: EAGAIN");

    /* --- semtimedop --- */
    struct timespec ts = {0, 100 * 1000 * 1000};
    struct sembuf p = {0, -1, 0};
    double t0 = tap_now();
    ok_errno(semtimedop(id, &p, 1, &ts) == -1, EAGAIN, "semtimedop times out with EAGAIN");
    double dt = tap_now() - t0;
    ok(dt > 0.08 && dt < 2.0, "... after about 100 ms (%.3f s)", dt);
    struct timespec badts = {0, 2000000000L};
    ok_errno(semtimedop(id, &p, 1, &badts) == -1, EINVAL, "semtimedop tv_nsec >= 1e9: EINVAL");
    ok_errno(semtimedop(id, &p, 1, (struct timespec *)8) == -1, EFAULT, "semtimedop with a bad timeout pointer: EFAULT");

    /* --- sem_otime: the wall clock's seconds, as the kernel stores them
     * (ktime_get_real_seconds), on a 0600 set (the credentials' clock
     * read serves it) and a 0666 one (no credentials: time()). --- */
    struct semid_ds ds;
    int everyone = semget(IPC_PRIVATE, 1, IPC_CREAT | 0666);
    for (int k = 0; k < 2; k++) {
        int s = k == 0 ? id : everyone;
        struct sembuf v0 = {0, 1, 0}, p0 = {0, -1, 0};
        time_t before = time(NULL);
        int r = semop(s, &v0, 1) == 0 && semop(s, &p0, 1) == 0;
        memset(&ds, 0, sizeof ds);
        r = r && semctl(s, 0, IPC_STAT, &ds) == 0;
        time_t after = time(NULL);
        ok(r && ds.sem_otime >= before && ds.sem_otime <= after,
           "%s set: sem_otime is the wall clock's seconds (%lld in [%lld, %lld])", k == 0 ? "0600" : "0666",
           (long long)ds.sem_otime, (long long)before, (long long)after);
    }
    ok(semctl(everyone, 0, IPC_RMID) == 0, "the 0666 set removed");

    /* --- IPC_STAT / IPC_SET --- */
    memset(&ds, 0, sizeof ds);
    ok(semctl(id, 0, IPC_STAT, &ds) == 0, "IPC_STAT");
    ok(ds.sem_nsems == 3, "sem_nsems 3");
    ok((ds.sem_perm.mode & 0777) == 0600, "mode 0600");
    ok(ds.sem_perm.uid == geteuid() && ds.sem_perm.cuid == geteuid(), "uid, cuid");
    ok(ds.sem_otime > 0 && ds.sem_ctime > 0, "sem_otime and sem_ctime are set");
    time_t ct = ds.sem_ctime;
    ds.sem_perm.mode = 0640;
    ok(semctl(id, 0, IPC_SET, &ds) == 0, "IPC_SET mode 0640");
    memset(&ds, 0, sizeof ds);
    ok(semctl(id, 0, IPC_STAT, &ds) == 0 && (ds.sem_perm.mode & 0777) == 0640, "IPC_STAT sees the new mode");
    ok(ds.sem_ctime >= ct, "IPC_SET updates sem_ctime");
    ok_errno(semctl(id, 0, IPC_STAT, (struct semid_ds *)8) == -1, EFAULT, "IPC_STAT into a bad pointer: EFAULT");

    /* --- IPC_INFO, SEM_INFO, SEM_STAT --- */
    struct seminfo si;
    memset(&si, 0, sizeof si);
    int maxidx = semctl(0, 0, IPC_INFO, (struct semid_ds *)(void *)&si);
    ok(maxidx >= 0 && si.semvmx == 32767 && si.semmsl > 0 && si.semopm > 0 && si.semmni > 0, "IPC_INFO: limits, highest index %d", maxidx);
    memset(&si, 0, sizeof si);
    maxidx = semctl(0, 0, SEM_INFO, (struct semid_ds *)(void *)&si);
    ok(maxidx >= 0 && si.semusz >= 1 && si.semaem >= 3, "SEM_INFO: %d sets, %d semaphores in use", si.semusz, si.semaem);
    int found = 0;
    for (int i = 0; i <= maxidx; i++) {
        memset(&ds, 0, sizeof ds);
        if (semctl(i, 0, SEM_STAT, &ds) == id) found = (ds.sem_nsems == 3);
    }
    ok(found, "SEM_STAT by index finds our set and returns its id");
    found = 0;
    for (int i = 0; i <= maxidx; i++)
        if (semctl(i, 0, SEM_STAT_ANY, &ds) == id) found = 1;
    ok(found, "SEM_STAT_ANY finds it too");

    /* --- sleeping: wake-ups, GETNCNT/GETZCNT, kill, EIDRM, EINTR --- */
    semctl(id, 0, SETVAL, 0);
    pid_t c = fork();
    if (c == 0) _exit(op1(id, 0, -2, 0) == 0 ? 0 : 1);
    ok(wait_cnt(id, 0, GETNCNT, 1), "a process sleeping on -2 is counted by GETNCNT");
    ok(semctl(id, 0, GETZCNT) == 0, "... and not by GETZCNT");
    op1(id, 0, 1, 0);
    usleep(50000);
    ok(semctl(id, 0, GETVAL) == 1 && semctl(id, 0, GETNCNT) == 1, "+1 is not enough: it still sleeps");
    op1(id, 0, 1, 0);
    int st = -1;
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "+1 more wakes it and its -2 succeeds");
    ok(semctl(id, 0, GETVAL) == 0 && semctl(id, 0, GETNCNT) == 0, "value 0, nobody sleeping");
    ok(semctl(id, 0, GETPID) == c, "GETPID names the woken process");

    semctl(id, 1, SETVAL, 2);
    c = fork();
    if (c == 0) _exit(op1(id, 1, 0, 0) == 0 ? 0 : 1);
    ok(wait_cnt(id, 1, GETZCNT, 1), "a process waiting for zero is counted by GETZCNT");
    semctl(id, 1, SETVAL, 0);
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SETVAL 0 wakes the zero-waiter");

    c = fork();
    if (c == 0) _exit(op1(id, 0, -1, 0) == 0 ? 0 : 1);
    ok(wait_cnt(id, 0, GETNCNT, 1), "a sleeper is counted");
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    ok(wait_cnt(id, 0, GETNCNT, 0), "after it is killed by SIGKILL, GETNCNT is 0 again");
    op1(id, 0, 1, 0);
    ok(semctl(id, 0, GETVAL) == 1, "a release after the kill is not taken by the dead sleeper");
    semctl(id, 0, SETVAL, 0);

    /* The same with no read in between to drop the dead sleeper first:
     * the release itself must not grant it. */
    c = fork();
    if (c == 0) _exit(op1(id, 0, -1, 0) == 0 ? 0 : 1);
    ok(wait_cnt(id, 0, GETNCNT, 1), "another sleeper is counted");
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    op1(id, 0, 1, 0);
    ok(semctl(id, 0, GETVAL) == 1, "a release right after the kill is not taken by the dead sleeper");
    ok(semctl(id, 0, GETNCNT) == 0, "and the dead sleeper is no longer counted");
    semctl(id, 0, SETVAL, 0);

    c = fork();
    if (c == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGUSR1, &sa, NULL);
        errno = 0;
        int r = op1(id, 0, -1, 0);
        _exit(r == -1 && errno == EINTR ? 0 : 1);
    }
    ok(wait_cnt(id, 0, GETNCNT, 1), "a sleeper with a SA_RESTART handler");
    /* Counted as a sleeper, it may still be in its first microseconds of
     * spinning, where a signal runs the handler and the call keeps waiting
     * (README, Differences): signal again until it answers (2 s at most). */
    for (int i = 0; i < 100; i++) {
        kill(c, SIGUSR1);
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
        if (waitpid(c, &st, WNOHANG) == c) break;
        if (i == 99) {
            kill(c, SIGKILL);
            waitpid(c, &st, 0);
        }
    }
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a signal makes semop fail with EINTR, even with SA_RESTART");
    ok(wait_cnt(id, 0, GETNCNT, 0), "... and it no longer counts as sleeping");

    c = fork();
    if (c == 0) {
        errno = 0;
        int r = op1(id, 0, -1, 0);
        _exit(r == -1 && errno == EIDRM ? 0 : 1);
    }
    ok(wait_cnt(id, 0, GETNCNT, 1), "a sleeper before removal");
    ok(semctl(id, 0, IPC_RMID) == 0, "IPC_RMID with a sleeper");
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the sleeper fails with EIDRM");
    return done_testing();
}
