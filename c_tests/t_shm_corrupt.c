/* t_shm_corrupt.c — a segment file scribbled on by another process makes
 * calls fail cleanly (EIO/EINVAL), never crash (user backend only: the
 * kernel's segments cannot be scribbled on). */
/* ripc_sysv.h has a slash-star inside its top comment: -Wcomment (reported). */
#pragma GCC diagnostic ignored "-Wcomment"
#include "ripc_sysv.h"
#include "tap.h"
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CTL 256 /* the engine's control area follows the 256-byte header */

static char path[4096];
static unsigned char saved[8192];

static int file_rw(off_t off, void *buf, size_t n, int write_it) {
    int fd = open(path, O_RDWR);
    if (fd < 0) return -1;
    ssize_t r = write_it ? pwrite(fd, buf, n, off) : pread(fd, buf, n, off);
    close(fd);
    return r == (ssize_t)n ? 0 : -1;
}

static void restore(void) { file_rw(0, saved, sizeof saved, 1); }

static int fails_cleanly(int r) { return r == -1 && (errno == EIO || errno == EINVAL); }

int main(void) {
    if (backend_is_kernel()) {
        printf("ok 1 # SKIP scribbling needs the user backend\n");
        printf("1..1\n");
        return 0;
    }
    const char *dir = getenv("RIPC_DIR");
    int id = shmget(IPC_PRIVATE, 10000, 0600);
    ok(id >= 0, "shmget");
    snprintf(path, sizeof path, "%s/shm.%d", dir ? dir : "/dev/shm/ripc", id % 32768);
    ok(file_rw(0, saved, sizeof saved, 0) == 0, "the segment is the file %s", path);
    char *p = shmat(id, NULL, 0);
    ok(p != (void *)-1, "shmat");
    struct shmid_ds ds;
    struct stat st;

    /* 1. The engine's magic. */
    uint64_t junk = 0xdeadbeefdeadbeefULL;
    file_rw(CTL, &junk, 8, 1);
    errno = 0;
    ok(fails_cleanly(shmctl(id, IPC_STAT, &ds)), "bad magic: IPC_STAT fails (errno %d)", errno);
    ok(shmat(id, NULL, 0) == (void *)-1 && (errno == EIO || errno == EINVAL), "bad magic: shmat fails");
    restore();
    ok(shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_nattch == 1, "restored: IPC_STAT works again");

    /* 2. A segment size larger than the file. */
    uint64_t huge = 1ULL << 40;
    file_rw(CTL + 8, &huge, 8, 1);
    ok(fails_cleanly(shmctl(id, IPC_STAT, &ds)), "size beyond the file: IPC_STAT fails");
    ok(shmat(id, NULL, 0) == (void *)-1 && (errno == EIO || errno == EINVAL), "size beyond the file: shmat fails");
    restore();

    /* 3. The slot count. */
    uint32_t slots = 0x7fffffff;
    file_rw(CTL + 36, &slots, 4, 1);
    ok(fails_cleanly(shmctl(id, IPC_STAT, &ds)), "slot count scribbled: IPC_STAT fails");
    restore();

    /* 4. Garbage in the attach table: dead pids with huge counts. */
    unsigned char garbage[16 * 8];
    for (int i = 0; i < 8; i++) {
        uint32_t pid = 0x3ffffff0u + i, cnt = 0xffffffffu;
        uint64_t start = 12345;
        memcpy(garbage + 16 * i, &pid, 4);
        memcpy(garbage + 16 * i + 4, &cnt, 4);
        memcpy(garbage + 16 * i + 8, &start, 8);
    }
    file_rw(CTL + 64 + 16 * 100, garbage, sizeof garbage, 1);
    uint32_t hiwater = 0xffffffffu; /* scan the whole table, and then some */
    file_rw(CTL + 44, &hiwater, 4, 1);
    ok(shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_nattch == 1, "garbage slots of dead pids are forgotten (nattch %lu)",
       (unsigned long)ds.shm_nattch);
    restore();

    /* 5. The lock word held by a dead pid: recovered. */
    uint32_t owner = 0x3ffffff0u;
    file_rw(40, &owner, 4, 1);
    ok(shmctl(id, IPC_STAT, &ds) == 0, "a lock held by a dead pid is recovered");
    file_rw(0, saved, sizeof saved, 0);

    /* 5b. The lock word naming a live process that does not map the
     * segment (an exec'ed sleep; no start time recorded): it cannot be the
     * holder, and the lock is recovered within the liveness checks. */
    int execd[2]; /* closed by the exec: before that it still maps the segment */
    if (pipe2(execd, O_CLOEXEC) != 0) return 1;
    pid_t stranger = fork();
    if (stranger == 0) {
        execlp("sleep", "sleep", "60", (char *)NULL);
        _exit(127);
    }
    close(execd[1]);
    char eof;
    while (read(execd[0], &eof, 1) > 0) {}
    close(execd[0]);
    uint32_t w[4] = {(uint32_t)stranger, 0, 0, 0};
    file_rw(40, w, sizeof w, 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    alarm(30); /* a wedge fails the test instead of hanging the suite */
    int sr = shmctl(id, IPC_STAT, &ds);
    alarm(0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ok(sr == 0 && dt < 1.0, "a lock word naming a live stranger is recovered (%.3f s)", dt);
    kill(stranger, SIGKILL);
    waitpid(stranger, NULL, 0);
    file_rw(0, saved, sizeof saved, 0);

    /* 6. The common header: the object is refused. */
    unsigned char ff[256];
    memset(ff, 0xff, sizeof ff);
    file_rw(0, ff, sizeof ff, 1);
    errno = 0;
    int r = shmctl(id, IPC_STAT, &ds);
    ok(r == -1 && (errno == EIO || errno == EINVAL || errno == EACCES), "scribbled header: IPC_STAT fails (errno %d)", errno);
    ok(shmat(id, NULL, 0) == (void *)-1, "scribbled header: shmat fails");
    restore();

    /* 7. The file cut short: never mapped past its end (no SIGBUS). */
    ok(stat(path, &st) == 0, "stat the file");
    ok(truncate(path, 4096) == 0, "cut the file to its control area");
    errno = 0;
    void *q = shmat(id, NULL, 0);
    ok(q == (void *)-1 && (errno == EIO || errno == EINVAL), "short file: shmat fails (errno %d)", errno);
    ok(truncate(path, st.st_size) == 0, "size restored");
    restore();

    /* 8. The control file cut to nothing while this process attaches the
     * segment: fork (whose handlers count the child's inherited
     * attachment in the control area) neither faults nor counts it. */
    ok(truncate(path, 0) == 0, "cut the file to nothing");
    fflush(stdout);
    pid_t k = fork();
    if (k == 0) _exit(0);
    int kst = -1;
    ok(k > 0 && waitpid(k, &kst, 0) == k && WIFEXITED(kst), "fork with the control file cut: no SIGBUS");
    ok(truncate(path, st.st_size) == 0, "size restored");
    restore();
    ok(shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_nattch == 1, "restored: nattch 1 (%ld)", (long)ds.shm_nattch);

    ok(shmdt(p) == 0, "shmdt");
    ok(shmctl(id, IPC_RMID, NULL) == 0, "IPC_RMID after all that");
    ok_errno(shmctl(id, IPC_STAT, &ds) == -1, EINVAL, "gone");
    return done_testing();
}
