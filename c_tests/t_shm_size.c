/* t_shm_size.c — shmget refuses what the memory cannot hold, as the
 * kernel does: 64 TiB is ENOMEM (the kernel: no memory to account it;
 * ripc: more than the namespace's file system can hold), and a segment's
 * storage is reserved at creation, so a full file system gives ENOMEM (or
 * ENOSPC) at shmget, never SIGBUS at the first touch: checked on a 512 KiB
 * tmpfs in a private mount namespace (root only; skipped otherwise), with
 * the namespace directory inside it. (With RIPC_BACKEND=kernel the
 * segments do not live on that tmpfs: there they all succeed.) And
 * SHM_HUGETLB by an unprivileged process is EPERM on both backends. */
#pragma GCC diagnostic ignored "-Wcomment" /* the header comment names sys headers with a glob */
#include "ripc_sysv.h"
#include "tap.h"
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEGS 64
#define SEG (64 * 1024)

/* Runs as `t_shm_size full N FD` in a private mount namespace whose
 * RIPC_DIR lies on a 512 KiB tmpfs; numbers its tests from N + 1 and
 * writes {tap_n, tap_failed} to FD. */
static int full(int n, int fd) {
    tap_n = n;
    int kernel = backend_is_kernel();
    const char *dir = getenv("RIPC_DIR");
    errno = 0;
    int id = shmget(IPC_PRIVATE, 1 << 20, IPC_CREAT | 0600);
    int e = errno;
    if (kernel) {
        ok(id >= 0, "1 MiB on a 512 KiB tmpfs: the kernel's shm is elsewhere, fine");
        if (id >= 0) shmctl(id, IPC_RMID, NULL);
    } else {
        ok(id == -1 && e == ENOMEM, "1 MiB on a 512 KiB tmpfs -> ENOMEM (%d, errno %d)", id, e);
        if (id >= 0) shmctl(id, IPC_RMID, NULL);
    }
    int ids[SEGS], made = 0, err = 0;
    char *at[SEGS];
    for (int i = 0; i < SEGS; i++) {
        errno = 0;
        ids[i] = shmget(IPC_PRIVATE, SEG, IPC_CREAT | 0600);
        if (ids[i] < 0) {
            err = errno;
            break;
        }
        at[i] = shmat(ids[i], NULL, 0);
        if (at[i] == (void *)-1) {
            err = -errno;
            shmctl(ids[i], IPC_RMID, NULL);
            break;
        }
        memset(at[i], 0x5a, SEG); /* SIGBUS here if storage was not reserved */
        made++;
    }
    if (kernel)
        ok(made == SEGS, "the kernel made and filled all %d segments of 64 KiB (%d)", SEGS, made);
    else
        ok(made >= 1 && made < SEGS && (err == ENOMEM || err == ENOSPC),
           "64 KiB segments until the tmpfs is full: %d made and filled, then errno %d (ENOMEM/ENOSPC)", made,
           err);
    /* Fill what is left to the last byte with a plain file. */
    char path[4096];
    snprintf(path, sizeof path, "%s/filler", getenv("RIPC_TEST_MNT"));
    int f = tap_fill_tmpfs();
    errno = 0;
    id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    e = errno;
    if (kernel) {
        ok(id >= 0, "tmpfs full to the last byte: the kernel's shmget does not care");
        if (id >= 0) shmctl(id, IPC_RMID, NULL);
    } else {
        ok(id == -1 && (e == ENOMEM || e == ENOSPC), "tmpfs full to the last byte: shmget -> ENOMEM/ENOSPC (%d, errno %d)", id,
           e);
        if (id >= 0) {
            char *p = shmat(id, NULL, 0);
            if (p != (void *)-1) p[0] = 1; /* the SIGBUS this test is about */
            shmctl(id, IPC_RMID, NULL);
        }
    }
    if (f >= 0) close(f);
    unlink(path);
    for (int i = 0; i < made; i++) {
        shmdt(at[i]);
        shmctl(ids[i], IPC_RMID, NULL);
    }
    /* Nothing left in the namespace but its own files. */
    int left = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (!kernel && d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "ripc.ns") &&
            strcmp(de->d_name, "ripc.idx") && strcmp(de->d_name, "ripc.seq"))
            left++;
    if (d) closedir(d);
    ok(left == 0, "the namespace on the tmpfs is empty again (%d names left)", left);
    int res[2] = {tap_n, tap_failed};
    (void)!write(fd, res, sizeof res);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "full") == 0) return full(atoi(argv[2]), atoi(argv[3]));
    int kernel = backend_is_kernel();

    errno = 0;
    int id = shmget(IPC_PRIVATE, (size_t)64 << 40, IPC_CREAT | 0600);
    int e = errno;
    ok(id == -1 && e == ENOMEM, "shmget 64 TiB -> ENOMEM (%d, errno %d)", id, e);
    if (id >= 0) shmctl(id, IPC_RMID, NULL);

    /* SHM_HUGETLB without privilege: EPERM (the kernel: neither
     * CAP_IPC_LOCK nor the hugetlb_shm_group). */
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) _exit(100);
        errno = 0;
        int h = shmget(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | 0600);
        int e = errno;
        if (h >= 0) shmctl(h, IPC_RMID, NULL);
        _exit(h >= 0 ? 0 : e);
    }
    int st = 0;
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == EPERM, "SHM_HUGETLB by an unprivileged process -> EPERM (exit %d)",
       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    if (geteuid() == 0) {
        errno = 0;
        int h = shmget(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | 0600);
        e = errno;
        if (kernel)
            ok(h >= 0 || e == ENOMEM, "SHM_HUGETLB by root: the kernel gives a segment or ENOMEM (no huge pages): %d errno %d",
               h, e);
        else
            ok(h >= 0, "SHM_HUGETLB by root: a segment (ripc backs it with ordinary pages)");
        if (h >= 0) shmctl(h, IPC_RMID, NULL);
    }

    if (geteuid() == 0)
        tap_in_private_tmpfs("t_shm_size", "512k");
    else
        printf("ok %d - full tmpfs # SKIP needs root for a private mount namespace\n", ++tap_n);
    return done_testing();
}
