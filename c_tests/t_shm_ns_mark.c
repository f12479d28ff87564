/* t_shm_ns_mark.c — a member is marked alive in every namespace it has
 * open. ripc's IPC_STAT counts another process's attachments without
 * reading /proc when that process holds its liveness mark (an OFD read
 * lock on byte 2^40 + pid of the namespace's ripc.idx, see docs/shm.md
 * "Attach accounting"), and a lock word naming a process whose maps
 * cannot be read is taken over when that process holds no mark
 * (docs/bounded-time.md, "The lock"); the mark lives in one namespace's
 * index, so a process of two namespaces needs one in each, from the
 * namespace's opening (a child of fork: from the fork) to its exit or
 * exec.
 *
 *  1. a child attached in the second namespace B holds its mark in B's
 *     ripc.idx and in the default namespace A's (open in it too), counts
 *     in B's nattch only, and its marks end with it;
 *  2. a process M attached in A and B, and once (attached and detached)
 *     in a third namespace D, forks C (which inherits the attachments in
 *     A and B) and exits: M's marks end with M in all three namespaces (C
 *     closed the descriptors it inherited), C holds its own in A, B and D,
 *     and each segment's nattch is C's one attachment;
 *  3. a child that execs another program holds no mark (close-on-exec).
 *
 * Under RIPC_BACKEND=kernel the segments are the kernel's whatever
 * namespace is given (ripc(7)): only the nattch checks apply. */
#include "tap.h"
#include <fcntl.h>
#include <ripc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ipc.h>
#include <sys/wait.h>

static char dir_b[64], dir_d[64];

/* 1 when some process holds the liveness mark of `pid` in the namespace
 * in `dir`, 0 when none does, -1 when it cannot be told. */
static int marked(const char *dir, pid_t pid) {
    char path[256];
    snprintf(path, sizeof path, "%s/ripc.idx", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)1 << 40};
    fl.l_start += pid;
    fl.l_len = 1;
    int r = fcntl(fd, F_OFD_GETLK, &fl);
    close(fd);
    if (r != 0) return -1;
    return fl.l_type != F_UNLCK;
}

static uint64_t nattch(ripc_shm *h) {
    ripc_shm_info i;
    if (ripc_shm_stat(h, &i) != 0) return (uint64_t)-1;
    return i.nattch;
}

/* Waits for one byte on `fd` (0 at end of file). */
static int wait_byte(int fd) {
    char c;
    ssize_t n;
    do n = read(fd, &c, 1);
    while (n < 0 && errno == EINTR);
    return n == 1;
}

int main(void) {
    int kernel = backend_is_kernel();
    const char *dir_a = getenv("RIPC_DIR");
    strcpy(dir_b, "/dev/shm/ripc-t_shm_ns_mark.XXXXXX");
    strcpy(dir_d, "/dev/shm/ripc-t_shm_ns_mark.XXXXXX");
    if (!dir_a || !mkdtemp(dir_b) || !mkdtemp(dir_d)) return 1;
    /* C below outlives its parent M: it is then ours to reap. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    ripc_ns *b = ripc_ns_open(dir_b), *d = ripc_ns_open(dir_d);
    ok(b && d, "ripc_ns_open(%s), ripc_ns_open(%s)", dir_b, dir_d);
    if (!b || !d) return done_testing();
    ripc_shm *ha = ripc_shm_open(NULL, IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    ripc_shm *hb = ripc_shm_open(b, IPC_PRIVATE, 8192, IPC_CREAT | 0600);
    ripc_shm *hd = ripc_shm_open(d, IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    ok(ha && hb && hd, "a segment in the default namespace A, one in B, one in D");
    if (!ha || !hb || !hd) return done_testing();

    /* 1: a child attached in B only. */
    int go[2], ready[2];
    if (pipe(go) || pipe(ready)) return 1;
    pid_t c1 = fork();
    if (c1 == 0) {
        close(go[1]);
        close(ready[0]);
        int okb = ripc_shm_attach(hb, 0, NULL) != NULL;
        if (write(ready[1], okb ? "y" : "n", 1) != 1) _exit(1);
        wait_byte(go[0]);
        _exit(0);
    }
    close(go[0]);
    close(ready[1]);
    char c = 0;
    ok(read(ready[0], &c, 1) == 1 && c == 'y', "a child attaches the segment of B");
    ok_eq((long)nattch(hb), 1, "B's segment counts the child");
    ok_eq((long)nattch(ha), 0, "A's segment does not");
    if (!kernel) {
        ok_eq(marked(dir_b, c1), 1, "the child holds its liveness mark in B's index");
        ok_eq(marked(dir_a, c1), 1, "and in A's (open in it, though it attaches nothing there)");
    }
    close(go[1]);
    close(ready[0]);
    int st;
    ok(waitpid(c1, &st, 0) == c1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child exits");
    if (!kernel) ok(marked(dir_b, c1) == 0 && marked(dir_a, c1) == 0, "its marks ended with it");
    ok_eq((long)nattch(hb), 0, "B's segment forgets it");

    /* 2: M attached in A and B (and once in D) forks C, then exits. */
    int info[2], stop[2];
    if (pipe(info) || pipe(stop)) return 1;
    pid_t m = fork();
    if (m == 0) {
        close(info[0]);
        close(stop[1]);
        if (!ripc_shm_attach(ha, 0, NULL) || !ripc_shm_attach(hb, 0, NULL)) _exit(1);
        void *pd = ripc_shm_attach(hd, 0, NULL);
        if (!pd || ripc_shm_detach(hd, pd) != 0) _exit(1);
        pid_t me = getpid(), child = fork();
        if (child == 0) {
            /* C: tell the test its pid once M is gone, then wait. */
            while (getppid() == me) usleep(1000);
            pid_t self = getpid();
            pid_t ids[2] = {me, self};
            if (write(info[1], ids, sizeof ids) != (ssize_t)sizeof ids) _exit(1);
            wait_byte(stop[0]);
            _exit(0);
        }
        _exit(child > 0 ? 0 : 1);
    }
    close(info[1]);
    close(stop[0]);
    ok(waitpid(m, &st, 0) == m && WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "M attaches in A and B, attaches and detaches in D, forks C, exits");
    pid_t ids[2] = {0, 0};
    int got = read(info[0], ids, sizeof ids) == (ssize_t)sizeof ids && ids[0] == m;
    pid_t c2 = ids[1];
    ok(got, "C runs on after M (pid %d)", (int)c2);
    if (!kernel) {
        int ma = marked(dir_a, m), mb = marked(dir_b, m), md = marked(dir_d, m);
        ok(ma == 0 && mb == 0 && md == 0,
           "M's marks ended with M in the three namespaces (C kept no inherited descriptor): A %d, B %d, D %d", ma,
           mb, md);
        int ca = marked(dir_a, c2), cb = marked(dir_b, c2), cd = marked(dir_d, c2);
        ok(ca == 1 && cb == 1, "C holds its own mark in A and in B: %d, %d", ca, cb);
        ok_eq(cd, 1, "and in D, open in it though it attaches nothing there");
    }
    ok_eq((long)nattch(ha), 1, "A's segment counts C's inherited attachment (M's is gone)");
    ok_eq((long)nattch(hb), 1, "so does B's");
    close(stop[1]);
    ok(waitpid(c2, &st, 0) == c2 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "C exits (reaped as its subreaper)");
    ok_eq((long)nattch(hb), 0, "B's segment forgets C");
    close(info[0]);

    /* 3: a child that execs another program. */
    int w[2];
    if (pipe(w)) return 1;
    pid_t e = fork();
    if (e == 0) {
        close(w[1]);
        dup2(w[0], 0);
        execlp("cat", "cat", (char *)NULL);
        _exit(127);
    }
    close(w[0]);
    if (!kernel) {
        /* Its marks go at its exec (close-on-exec): looked at until they
         * have, 5 s at most. */
        int ea = 1, eb = 1;
        for (int k = 0; k < 500 && (ea != 0 || eb != 0); k++) {
            usleep(10000);
            ea = marked(dir_a, e);
            eb = marked(dir_b, e);
        }
        ok(ea == 0 && eb == 0, "a child that execs another program holds no mark: A %d, B %d", ea,
           eb);
    }
    close(w[1]);
    ok(waitpid(e, &st, 0) == e && WIFEXITED(st) && WEXITSTATUS(st) == 0, "that child exits");

    ok(ripc_shm_remove(ha) == 0 && ripc_shm_remove(hb) == 0 && ripc_shm_remove(hd) == 0, "remove the segments");
    ok(ripc_shm_close(ha) == 0 && ripc_shm_close(hb) == 0 && ripc_shm_close(hd) == 0, "close the handles");
    ok(ripc_ns_close(b) == 0 && ripc_ns_close(d) == 0, "ripc_ns_close");
    tap_remove_dir(dir_b);
    tap_remove_dir(dir_d);
    return done_testing();
}
