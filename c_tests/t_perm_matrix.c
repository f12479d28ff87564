/* t_perm_matrix.c — issue 12's matrix: object modes × calls × raw file
 * operations, for a member of the namespace's group who is neither owner
 * nor creator (uid/gid 65534, in the object's group class), root being
 * the victim. Both backends for the calls (the kernel's answer is the
 * expected one, from the mode's group bits); the raw file operations are
 * the user backend's (the kernel's objects are not files), each with what
 * the file system enforces and, where it cannot, the trust model's
 * honest-member row named in the test (docs/security.md).
 *
 * Modes 0400 0600 0640 0644 0660 0666; for each a queue, a set and a
 * segment, made by root, their group given to 65534 (IPC_SET). A fresh
 * process as 65534 (exec'd, pinned to the build's libripc) then tries:
 *   calls: msgsnd (w), msgrcv (r), msgctl IPC_STAT (r), semop +1 (w),
 *          GETVAL (r), shmat SHM_RDONLY (r), shmat read-write (rw);
 *   files: open the segment's data O_RDONLY (r) and O_RDWR (rw), map it
 *          read-write and write it (rw), truncate it (w);
 *          truncate the queue's file (any access: honest members only);
 *          mprotect a read-only attachment writable (rw);
 *          open an object file at all (r or w: the file is the boundary
 *          for a member granted nothing);
 *          unlink / rename an object's name, chmod it (never: the sticky
 *          namespace and the files' owner refuse); hard-link it (the file
 *          system allows it to whoever may read and write the file: an
 *          honest-member row of the trust model).
 */
#include "ripc_sysv.h"
#include "tap.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define NMODES 6
static const int modes[NMODES] = {0400, 0600, 0640, 0644, 0660, 0666};


/* Row: `what` on mode `m` is allowed iff `want`; `got` says whether it was. */
static void row(const char *what, int m, int want, int got, int err) {
    ok(want == got, "mode %04o, group member: %s -> %s (%s%s)", m, what, want ? "allowed" : "refused",
       got ? "allowed" : "refused", got ? "" : strerror(err));
}

static int stranger(char **ids, int n) {
    tap_n = n;
    tap_same_libripc();
    int user = !backend_is_kernel();
    const char *dir = getenv("RIPC_DIR");
    for (int k = 0; k < NMODES; k++) {
        int m = modes[k], g = (m >> 3) & 7;
        int r = g & 4, w = g & 2;
        int q = atoi(ids[3 * k]), s = atoi(ids[3 * k + 1]), h = atoi(ids[3 * k + 2]);
        struct {
            long t;
            char b[8];
        } msg = {1, "x"};
        errno = 0;
        int got = msgsnd(q, &msg, sizeof msg.b, IPC_NOWAIT) == 0;
        row("msgsnd", m, !!w, got, errno);
        errno = 0;
        got = msgrcv(q, &msg, sizeof msg.b, 0, IPC_NOWAIT) >= 0 || errno == ENOMSG;
        row("msgrcv", m, !!r, got, errno);
        struct msqid_ds ds;
        errno = 0;
        row("msgctl IPC_STAT", m, !!r, msgctl(q, IPC_STAT, &ds) == 0, errno);
        struct sembuf v = {0, 1, IPC_NOWAIT};
        errno = 0;
        row("semop +1", m, !!w, semop(s, &v, 1) == 0, errno);
        errno = 0;
        row("semctl GETVAL", m, !!r, semctl(s, 0, GETVAL) >= 0, errno);
        errno = 0;
        char *ro = shmat(h, NULL, SHM_RDONLY);
        row("shmat SHM_RDONLY", m, !!r, ro != (char *)-1, errno);
        errno = 0;
        char *rw = shmat(h, NULL, 0);
        row("shmat read-write", m, r && w, rw != (char *)-1, errno);
        if (rw != (char *)-1) shmdt(rw);
        if (!user) {
            if (ro != (char *)-1) shmdt(ro);
            continue;
        }
        errno = 0;
        int mp = ro != (char *)-1 && mprotect(ro, 4096, PROT_READ | PROT_WRITE) == 0;
        /* Never, as on the kernel (its SHM_RDONLY attachment's file is
         * opened read-only whatever the caller may do). */
        row("mprotect a SHM_RDONLY attachment writable", m, 0, mp, errno);
        if (ro != (char *)-1) shmdt(ro);
        char path[600];
        struct stat st;
        snprintf(path, sizeof path, "%s/shm.%d", dir, h % 32768);
        int have = stat(path, &st) == 0;
        char data[600];
        snprintf(data, sizeof data, "%s/shm.data.%lu", dir, have ? (unsigned long)st.st_ino : 0ul);
        errno = 0;
        int fd = open(data, O_RDONLY);
        row("open the segment's data O_RDONLY", m, !!r, fd >= 0, errno);
        if (fd >= 0) close(fd);
        errno = 0;
        fd = open(data, O_RDWR);
        row("open the segment's data O_RDWR", m, r && w, fd >= 0, errno);
        if (fd >= 0) {
            errno = 0;
            void *mp2 = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            row("mmap the segment's data read-write", m, r && w, mp2 != MAP_FAILED, errno);
            if (mp2 != MAP_FAILED) munmap(mp2, 4096);
            errno = 0;
            row("write the segment's data", m, r && w, pwrite(fd, "w", 1, 0) == 1, errno);
            close(fd);
        } else {
            row("mmap the segment's data read-write", m, r && w, 0, errno);
            row("write the segment's data", m, r && w, 0, errno);
        }
        /* truncate(2) to the file's own size: the permission check, no
         * harm done. */
        struct stat dst;
        int dsz = stat(data, &dst) == 0;
        errno = 0;
        row("truncate the segment's data", m, !!w, dsz && truncate(data, dst.st_size) == 0, errno);
        /* The queue's file: open for any access granted (its bookkeeping
         * is written by readers too: honest members only, see the trust
         * model), refused for a member granted nothing. */
        snprintf(path, sizeof path, "%s/msg.%d", dir, q % 32768);
        errno = 0;
        fd = open(path, O_RDONLY);
        row("open the queue's file (any access)", m, r || w, fd >= 0, errno);
        if (fd >= 0) close(fd);
        /* Writable to whoever was granted anything: the honest-member row
         * of the trust model (a truncation to a smaller size would make
         * others SIGBUS; this one keeps the size). */
        struct stat qst;
        int qsz = stat(path, &qst) == 0;
        errno = 0;
        row("truncate the queue's file (honest members only)", m, r || w, qsz && truncate(path, qst.st_size) == 0,
            errno);
        /* Names and metadata: never a member's to change. */
        char other[640];
        snprintf(other, sizeof other, "%s.moved", path);
        errno = 0;
        row("rename the queue's file", m, 0, rename(path, other) == 0, errno);
        errno = 0;
        row("unlink the queue's file", m, 0, unlink(path) == 0, errno);
        errno = 0;
        row("chmod the queue's file", m, 0, chmod(path, 0666) == 0, errno);
        /* The file system lets a user who may read and write a file
         * hard-link it (fs.protected_hardlinks): a member granted anything
         * on a queue can, and IPC_RMID then frees nothing until that name
         * goes — an honest-member row of the trust model. Root removes it
         * (the sticky namespace keeps the member from it). */
        snprintf(other, sizeof other, "%s/stolen.%d", dir, k);
        errno = 0;
        int linked = link(path, other) == 0;
        row("hard-link the queue's file (honest members only)", m, r || w, linked, errno);
    }
    return tap_failed ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 3 + 3 * NMODES && strcmp(argv[1], "stranger") == 0) return stranger(argv + 3, atoi(argv[2]));
    TAP_SKIP_UNLESS_ROOT();
    char *av[4 + 3 * NMODES];
    static char buf[3 * NMODES][16];
    char sn[16];
    int ids[3 * NMODES];
    int made = 1;
    for (int k = 0; k < NMODES; k++) {
        int q = msgget(IPC_PRIVATE, IPC_CREAT | modes[k]);
        int s = semget(IPC_PRIVATE, 1, IPC_CREAT | modes[k]);
        int h = shmget(IPC_PRIVATE, 4096, IPC_CREAT | modes[k]);
        struct msqid_ds qd;
        struct semid_ds sd;
        struct shmid_ds hd;
        union semun {
            int val;
            struct semid_ds *buf;
        } arg = {.buf = &sd};
        if (q < 0 || s < 0 || h < 0 || msgctl(q, IPC_STAT, &qd) || semctl(s, 0, IPC_STAT, arg) || shmctl(h, IPC_STAT, &hd))
            made = 0;
        qd.msg_perm.gid = sd.sem_perm.gid = hd.shm_perm.gid = 65534;
        if (msgctl(q, IPC_SET, &qd) || semctl(s, 0, IPC_SET, arg) || shmctl(h, IPC_SET, &hd)) made = 0;
        ids[3 * k] = q, ids[3 * k + 1] = s, ids[3 * k + 2] = h;
    }
    ok(made, "a queue, a set and a segment of each mode, root's, their group 65534");
    snprintf(sn, sizeof sn, "%d", tap_n);
    av[0] = "t_perm_matrix";
    av[1] = "stranger";
    av[2] = sn;
    for (int i = 0; i < 3 * NMODES; i++) {
        snprintf(buf[i], sizeof buf[i], "%d", ids[i]);
        av[3 + i] = buf[i];
    }
    av[3 + 3 * NMODES] = NULL;
    int st = tap_exec_as_nobody(NULL, av);
    /* The stranger's tests: its build-id check, then 7 calls per mode,
     * and under the user backend 12 file operations per mode. */
    tap_n += 1 + NMODES * (7 + (backend_is_kernel() ? 0 : 12));
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the member's rows all as expected (status %d)", st);
    for (int k = 0; k < NMODES; k++) {
        char p[600];
        snprintf(p, sizeof p, "%s/stolen.%d", getenv("RIPC_DIR"), k);
        unlink(p);
    }
    int gone = 1;
    for (int i = 0; i < 3 * NMODES; i += 3) {
        if (msgctl(ids[i], IPC_RMID, NULL) || semctl(ids[i + 1], 0, IPC_RMID) || shmctl(ids[i + 2], IPC_RMID, NULL))
            gone = 0;
    }
    ok(gone, "root removes them all");
    return done_testing();
}
