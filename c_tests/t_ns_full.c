/* t_ns_full.c — issue 12: a full file system crashes nobody. On a tmpfs of
 * 1 MiB (a private mount namespace: unshare(CLONE_NEWNS)) filled to the
 * last byte, creating a queue, a set or a segment fails with ENOMEM (the
 * kernel's answer when memory is short), a namespace with ENOSPC, never SIGBUS, and
 * leaves no .new.* file behind; when room is made, creation works again.
 * Then 20 more messages go through a queue made before the fill: a queue
 * reserves its pages as senders first use them, and reuses what
 * receivers gave back when there is no room for more (t_msg_fullfs: the
 * ENOMEM a send gets then). Then the file system filled by a temporary
 * file of a creator that died (as a killed creator leaves it): the next
 * shmget, msgget, semget sweeps it and works by its second try (issue 13:
 * leftovers are swept by the next process that needs the space), while a
 * live creator's temporary file stays. User backend and root only (the
 * kernel's objects do not live on a file system). */
#include "ripc_sysv.h"
#include "tap.h"
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

/* `new namespace` mode: msgget in RIPC_DIR; exit 0 or errno. */
static int newns(void) {
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (q < 0) return errno;
    msgctl(q, IPC_RMID, NULL);
    return 0;
}

/* How many names in `dir` start with ".new." (-1: unreadable). */
static int tmp_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, ".new.", 5) == 0) n++;
    closedir(d);
    return n;
}

/* In a child: each create must fail with its errno; results packed
 * (msgget, msgget key, semget, shmget) as errno bytes. */
static void creates_fail(void) {
    int *res = malloc(4 * sizeof(int));
    int fds[2];
    if (pipe(fds) != 0) return;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        int r[4];
        errno = 0;
        r[0] = msgget(IPC_PRIVATE, IPC_CREAT | 0600) == -1 ? errno : 0;
        errno = 0;
        r[1] = msgget((key_t)0x4e460001, IPC_CREAT | 0600) == -1 ? errno : 0;
        errno = 0;
        r[2] = semget(IPC_PRIVATE, 4, IPC_CREAT | 0600) == -1 ? errno : 0;
        errno = 0;
        r[3] = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600) == -1 ? errno : 0;
        if (write(fds[1], r, sizeof r) != (ssize_t)sizeof r) _exit(2);
        _exit(0);
    }
    close(fds[1]);
    memset(res, 0xff, 4 * sizeof(int));
    ssize_t got = read(fds[0], res, 4 * sizeof(int));
    close(fds[0]);
    int st = 0;
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && got == 4 * (ssize_t)sizeof(int),
       "creating on the full file system kills nobody (child status %#x)", st);
    /* The kernel's answer when memory for a new object is short; its
     * ENOSPC means "too many objects". */
    ok(res[0] == ENOMEM, "msgget(IPC_PRIVATE): ENOMEM (got %d)", res[0]);
    ok(res[1] == ENOMEM, "msgget(key, IPC_CREAT): ENOMEM (got %d)", res[1]);
    ok(res[2] == ENOMEM, "semget: ENOMEM (got %d)", res[2]);
    ok(res[3] == ENOMEM, "shmget: ENOMEM (got %d)", res[3]);
    free(res);
}

/* In a child: n messages sent and received one by one on q; its wait
 * status (0: all went through). */
static int send_recv(int q, int n) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        for (int i = 0; i < n; i++) {
            struct { long t; char s[64]; } m = {7, "still here"}, in;
            if (msgsnd(q, &m, sizeof m.s, IPC_NOWAIT) != 0) _exit(1);
            if (msgrcv(q, &in, sizeof in.s, 0, IPC_NOWAIT) != (ssize_t)sizeof in.s || strcmp(in.s, "still here") != 0)
                _exit(2);
        }
        _exit(0);
    }
    int st = 0;
    waitpid(c, &st, 0);
    return st;
}

/* A creator that died holding the space: a temporary file named as a
 * creator names it (.new.<pid>.<start>.<n>, src/ns/create.rs) for a
 * process now gone, written until the file system is full. 0 when it is
 * full; `name` gets the file's path. */
static int dead_creator_fills(const char *ns, char *name, size_t len) {
    pid_t c = fork();
    if (c == 0) {
        pause();
        _exit(0);
    }
    unsigned long long start = 0;
    for (int i = 0; i < 1000 && start == 0; i++) {
        start = tap_start_time(c);
        if (!start) usleep(1000);
    }
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    snprintf(name, len, "%s/.new.%d.%llu.0", ns, (int)c, start);
    int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return -1;
    static char page[4096];
    while (write(fd, page, sizeof page) > 0) {}
    while (write(fd, page, 1) > 0) {}
    int e = errno;
    close(fd);
    return start != 0 && e == ENOSPC ? 0 : -1;
}

/* The dead creator's space is taken back by the next create that needs
 * it: one that fails (ENOMEM) may sweep, the one after must work. */
static void swept_by_the_next_create(const char *ns) {
    char dead[400], live[400];
    /* A live creator's temporary file stays (this process's own name). */
    snprintf(live, sizeof live, "%s/.new.%d.%llu.999", ns, (int)getpid(), tap_start_time(0));
    int lfd = open(live, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ok(lfd >= 0, "a live creator's temporary file");
    if (lfd >= 0) close(lfd);
    const char *what[3] = {"shmget", "msgget", "semget"};
    for (int k = 0; k < 3; k++) {
        int full = dead_creator_fills(ns, dead, sizeof dead);
        int id = -1, tries = 0, e = 0;
        while (id < 0 && tries < 2) {
            tries++;
            errno = 0;
            id = k == 0 ? shmget(IPC_PRIVATE, 64 * 1024, IPC_CREAT | 0600)
                 : k == 1 ? msgget(IPC_PRIVATE, IPC_CREAT | 0600)
                          : semget(IPC_PRIVATE, 4, IPC_CREAT | 0600);
            e = errno;
        }
        struct stat st;
        ok(full == 0 && id >= 0 && stat(dead, &st) != 0,
           "full with a dead creator's temporary file: %s works by its second try (%d tries, errno %d), the file is "
           "swept",
           what[k], tries, id >= 0 ? 0 : e);
        if (id >= 0) {
            if (k == 0) shmctl(id, IPC_RMID, NULL);
            if (k == 1) msgctl(id, IPC_RMID, NULL);
            if (k == 2) semctl(id, 0, IPC_RMID);
        }
        unlink(dead);
    }
    struct stat st;
    ok(stat(live, &st) == 0, "the live creator's temporary file is still there");
    unlink(live);
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "newns") == 0) return newns();
    if (backend_is_kernel() || !getenv("RIPC_DIR")) {
        ok(1, "# SKIP kernel backend: its objects are not files");
        return done_testing();
    }
    char mnt[] = "/tmp/ripc-full.XXXXXX";
    if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        !mkdtemp(mnt)) {
        ok(1, "# SKIP cannot make a private mount namespace (needs root)");
        return done_testing();
    }
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m,mode=0700") != 0) {
        ok(1, "# SKIP cannot mount a tmpfs: %s", strerror(errno));
        rmdir(mnt);
        return done_testing();
    }
    char ns[300], ns2[300], fill[300];
    snprintf(ns, sizeof ns, "%s/ns", mnt);
    snprintf(ns2, sizeof ns2, "%s/ns2", mnt);
    snprintf(fill, sizeof fill, "%s/fill", mnt);
    setenv("RIPC_DIR", ns, 1);
    setenv("RIPC_MSGMNB", "1024", 1); /* a queue file of ~300 KiB, not 4.7 MiB */
    int q0 = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ok(q0 >= 0, "a queue in a namespace on a 1 MiB tmpfs (errno %d)", q0 >= 0 ? 0 : errno);
    ok(WIFEXITED(send_recv(q0, 20)), "20 messages through it while there is room");

    /* Fill it to the last byte. */
    int fd = open(fill, O_WRONLY | O_CREAT | O_EXCL, 0600);
    static char page[4096];
    while (write(fd, page, sizeof page) > 0) {}
    while (write(fd, page, 1) > 0) {}
    int full_errno = errno;
    struct statvfs sv;
    statvfs(mnt, &sv);
    ok(fd >= 0 && full_errno == ENOSPC && sv.f_bavail == 0, "the file system is full (%lu blocks free)",
       (unsigned long)sv.f_bavail);

    creates_fail();
    ok(tmp_files(ns) == 0, "no .new.* file left in the namespace (%d)", tmp_files(ns));

    int st1 = send_recv(q0, 20);
    ok(WIFEXITED(st1) && WEXITSTATUS(st1) == 0,
       "20 more messages through the queue on the full file system, no SIGBUS (child status %#x)", (unsigned)st1);

    /* A new namespace on the full file system. */
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        setenv("RIPC_DIR", ns2, 1);
        execl("/proc/self/exe", "t_ns_full", "newns", (char *)NULL);
        _exit(97);
    }
    int st = 0;
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == ENOSPC, "a new namespace there: ENOSPC, no crash (status %#x)", st);
    ok(tmp_files(ns2) <= 0, "and no .new.* file left in it");

    /* Room again: creation works. */
    close(fd);
    unlink(fill);
    int q1 = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ok(q1 >= 0, "with room made, msgget works again");
    msgctl(q1, IPC_RMID, NULL);
    swept_by_the_next_create(ns);
    msgctl(q0, IPC_RMID, NULL);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", ns, ns2);
    ok(system(cmd) == 0 && umount2(mnt, MNT_DETACH) == 0 && rmdir(mnt) == 0, "tmpfs unmounted (lazily: this process still holds the namespace open) and removed");
    return done_testing();
}
