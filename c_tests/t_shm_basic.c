/* t_shm_basic.c — shmget/shmat/shmdt/shmctl semantics through the drop-in
 * header, under both backends (run1.sh sets RIPC_BACKEND). */
/* ripc_sysv.h has a slash-star inside its top comment: -Wcomment (reported). */
#pragma GCC diagnostic ignored "-Wcomment"
#include "ripc_sysv.h"
#include "tap.h"
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct shmid_ds ds;

static unsigned long nattch(int id) {
    if (shmctl(id, IPC_STAT, &ds) != 0) return (unsigned long)-1;
    return ds.shm_nattch;
}

int main(void) {
    key_t k = (key_t)(0x51000000 | (getpid() & 0xffffff));
    key_t missing = (key_t)(0x52000000 | (getpid() & 0xffffff));
    time_t t0 = time(NULL);

    ok_errno(shmget(IPC_PRIVATE, 0, 0600) == -1, EINVAL, "shmget size 0 -> EINVAL");
    ok_errno(shmget(IPC_PRIVATE, (size_t)-1, 0600) == -1, EINVAL, "shmget above shmmax -> EINVAL");
    ok_errno(shmget(missing, 100, 0600) == -1, ENOENT, "shmget of a missing key without IPC_CREAT -> ENOENT");
    int id = shmget(k, 10000, IPC_CREAT | IPC_EXCL | 0600);
    ok(id >= 0, "shmget IPC_CREAT|IPC_EXCL creates (id %d)", id);
    ok_errno(shmget(k, 10000, IPC_CREAT | IPC_EXCL | 0600) == -1, EEXIST, "again with IPC_EXCL -> EEXIST");
    ok(shmget(k, 0, 0) == id, "shmget(key, 0, 0) finds it");
    ok(shmget(k, 10000, IPC_CREAT | 0600) == id, "shmget IPC_CREAT of an existing key finds it");
    ok(shmget(k, 5000, 0) == id, "a smaller size finds it");
    ok_errno(shmget(k, 10001, 0) == -1, EINVAL, "a larger size than the segment -> EINVAL");
    int id2 = shmget(IPC_PRIVATE, 4096, 0600);
    ok(id2 >= 0 && id2 != id, "IPC_PRIVATE makes a new segment each time");

    ok(shmctl(id, IPC_STAT, &ds) == 0, "IPC_STAT");
    ok(ds.shm_segsz == 10000, "shm_segsz is the size asked (%zu)", (size_t)ds.shm_segsz);
    ok(ds.shm_nattch == 0 && ds.shm_atime == 0 && ds.shm_dtime == 0 && ds.shm_lpid == 0,
       "new segment: nattch, atime, dtime, lpid are 0");
    ok(ds.shm_cpid == getpid(), "shm_cpid is the creator");
    ok(ds.shm_ctime >= t0 && ds.shm_ctime <= time(NULL) + 1, "shm_ctime is now");
    ok((ds.shm_perm.mode & 0777) == 0600 && ds.shm_perm.__key == k, "mode 0600 and the key");
    ok(ds.shm_perm.uid == geteuid() && ds.shm_perm.cuid == geteuid() && ds.shm_perm.gid == getegid(),
       "owner and creator are the caller");

    unsigned char *p = shmat(id, NULL, 0);
    ok(p != (void *)-1, "shmat NULL");
    int zero = 1;
    for (int i = 0; i < 10000; i++) if (p[i]) zero = 0;
    ok(zero, "a new segment is zero-filled");
    memset(p, 0x5a, 10000);
    p[4095] = 1; p[4096] = 2;
    unsigned char *q = shmat(id, NULL, 0);
    ok(q != (void *)-1 && q != p, "a second attach is a second view at another address");
    ok(q[0] == 0x5a && q[4095] == 1 && q[4096] == 2 && q[9999] == 0x5a, "it shows the same bytes");
    q[100] = 7;
    ok(p[100] == 7, "a write through one view is seen through the other");
    ok(nattch(id) == 2, "shm_nattch is 2 after two shmat");
    ok(ds.shm_lpid == getpid() && ds.shm_atime >= t0, "shmat sets shm_lpid and shm_atime");

    ok_errno(shmdt(p + 1) == -1, EINVAL, "shmdt of an unaligned address -> EINVAL");
    ok_errno(shmdt(p + 4096) == -1, EINVAL, "shmdt inside an attachment -> EINVAL");
    void *priv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok_errno(shmdt(priv) == -1, EINVAL, "shmdt of a mapping that is no attachment -> EINVAL");
    munmap(priv, 4096);
    ok(shmdt(q) == 0, "shmdt");
    ok(nattch(id) == 1 && ds.shm_dtime >= t0, "nattch 1 after shmdt, dtime set");
    ok_errno(shmdt(q) == -1, EINVAL, "shmdt twice -> EINVAL");

    /* Attaching at a given address. */
    unsigned char *hole = mmap(NULL, 4 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(hole, 4 * 4096);
    unsigned char *a = shmat(id, hole, 0);
    ok(a == hole, "shmat at a given address maps there");
    ok(a != (void *)-1 && a[100] == 7, "and shows the segment");
    ok_errno(shmat(id, hole, 0) == (void *)-1, EINVAL, "shmat over an existing mapping without SHM_REMAP -> EINVAL");
    unsigned char *b = shmat(id, hole, SHM_REMAP);
    ok(b == hole, "SHM_REMAP replaces the mapping there");
    ok(nattch(id) == 2, "the replaced attachment no longer counts (nattch %lu)", nattch(id));
    ok(shmdt(b) == 0, "shmdt of the remapped attachment");
    unsigned char *r = shmat(id, hole + 123, SHM_RND);
    ok(r == hole, "SHM_RND rounds the address down to SHMLBA");
    ok(r != (void *)-1 && shmdt(r) == 0, "and it detaches");
    ok_errno(shmat(id, hole + 123, 0) == (void *)-1, EINVAL, "an unaligned address without SHM_RND -> EINVAL");
    ok_errno(shmat(id, NULL, SHM_REMAP) == (void *)-1, EINVAL, "SHM_REMAP without an address -> EINVAL");
    ok_errno(shmat(-1, NULL, 0) == (void *)-1, EINVAL, "shmat of id -1 -> EINVAL");
    ok_errno(shmat(id + 7 * 32768, NULL, 0) == (void *)-1, EINVAL, "shmat of a stale id -> EINVAL");
    ok(nattch(id) == 1, "nattch back to 1");

    /* SHM_RDONLY: reads work, a write raises SIGSEGV. */
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        volatile unsigned char *ro = shmat(id, NULL, SHM_RDONLY);
        if (ro == (void *)-1) _exit(2);
        if (ro[100] != 7) _exit(3);
        ro[100] = 8;
        _exit(0);
    }
    int st = 0;
    waitpid(c, &st, 0);
    ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "SHM_RDONLY: reads work, a write raises SIGSEGV");
    ok(p[100] == 7, "the read-only attacher changed nothing");
    ok(nattch(id) == 1, "the dead child no longer counts");

    /* IPC_SET */
    struct shmid_ds set = ds;
    set.shm_perm.mode = 0640;
    ok(shmctl(id, IPC_SET, &set) == 0, "IPC_SET");
    ok(shmctl(id, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & 0777) == 0640, "IPC_SET changed the mode");
    ok_errno(shmctl(id, IPC_STAT, NULL) == -1, EFAULT, "IPC_STAT into NULL -> EFAULT");
    ok_errno(shmctl(id, IPC_SET, NULL) == -1, EFAULT, "IPC_SET from NULL -> EFAULT");
    ok_errno(shmctl(id, 9999, &ds) == -1, EINVAL, "an unknown command -> EINVAL");
    ok_errno(shmctl(-1, IPC_STAT, &ds) == -1, EINVAL, "IPC_STAT of id -1 -> EINVAL");

    /* IPC_RMID while attached: usable, key gone, SHM_DEST, destroyed at the last detach. */
    ok(shmctl(id, IPC_RMID, NULL) == 0, "IPC_RMID while attached");
    ok_errno(shmget(k, 0, 0) == -1, ENOENT, "the key no longer finds it");
    ok(shmctl(id, IPC_STAT, &ds) == 0, "IPC_STAT by id still works");
    ok(ds.shm_perm.mode & SHM_DEST, "mode shows SHM_DEST");
    ok(ds.shm_perm.__key == IPC_PRIVATE, "the key reads IPC_PRIVATE");
    ok(ds.shm_nattch == 1, "nattch 1");
    p[0] = 42;
    ok(p[0] == 42 && p[100] == 7, "the attachment stays usable");
    unsigned char *again = shmat(id, NULL, 0);
    ok(again != (void *)-1 && again[0] == 42, "shmat by id of a SHM_DEST segment works (Linux)");
    ok(nattch(id) == 2, "nattch 2");
    int nk = shmget(k, 4096, IPC_CREAT | IPC_EXCL | 0600);
    ok(nk >= 0 && nk != id, "the key can make a new segment meanwhile");
    ok(shmctl(nk, IPC_RMID, NULL) == 0, "which is removed at once (not attached)");
    ok_errno(shmctl(nk, IPC_STAT, &ds) == -1, EINVAL, "IPC_STAT of a destroyed segment -> EINVAL");
    ok(shmdt(again) == 0 && shmdt(p) == 0, "last detaches");
    ok_errno(shmctl(id, IPC_STAT, &ds) == -1, EINVAL, "destroyed at the last detach: IPC_STAT -> EINVAL");
    ok_errno(shmat(id, NULL, 0) == (void *)-1, EINVAL, "shmat of the destroyed id -> EINVAL");
    ok_errno(shmctl(id, IPC_RMID, NULL) == -1, EINVAL, "IPC_RMID of the destroyed id -> EINVAL");

    ok(shmctl(id2, IPC_RMID, NULL) == 0, "IPC_RMID of an unattached segment");
    ok_errno(shmctl(id2, IPC_STAT, &ds) == -1, EINVAL, "is immediate");
    return done_testing();
}
