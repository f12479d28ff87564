/* t_shm_data_plant.c — a member cannot make another member's shmget fail
 * by planting files at the payload names of the inodes tmpfs will hand
 * out next (docs/security.md, "Red-team pass"), both backends.
 *
 * A segment's payload is named after its control file's inode,
 * `shm.data.<inode>`, and tmpfs hands out inode numbers in sequence. A
 * member (uid 65533, group 65534) hard-links one file of its own at the
 * next few hundred such names; the sticky directory does not let another
 * member (uid 65534) remove them, and that member's shmget failed with
 * ENOMEM (the kernel's shmget succeeds). Now creation takes another
 * control file until its payload name is free, and the planted file is
 * never adopted: the segment is zero-filled, not the planted bytes.
 *
 * Both members are pinned to one CPU (tmpfs numbers inodes in per-CPU
 * batches); the victim learns the next number from a probe file just
 * before the attacker plants, and each of 5 rounds plants afresh. */
#include "ripc_sysv.h"
#include "tap.h"

#include <sched.h>
#include <sys/stat.h>

#define PLANT 400
#define ROUNDS 5

static void pin(void) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(0, &s);
    sched_setaffinity(0, sizeof s, &s);
}

static int become(uid_t uid) { return setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(uid) == 0; }

static const char *dir(void) { return getenv("RIPC_DIR"); }

/* The attacker: for each number n read from `req`, links its file at
 * shm.data.<n + 1 .. n + PLANT>, then answers the count linked. */
static void attacker(int req, int ans) {
    if (!become(65533)) _exit(2);
    pin();
    char f[4096];
    snprintf(f, sizeof f, "%s/planted", dir());
    int fd = open(f, O_CREAT | O_RDWR | O_EXCL, 0644);
    if (fd < 0) _exit(3);
    (void)!write(fd, "PLANTED!", 8);
    close(fd);
    unsigned long n;
    while (read(req, &n, sizeof n) == (ssize_t)sizeof n) {
        int linked = 0;
        for (unsigned long i = n + 1; i <= n + PLANT; i++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/shm.data.%lu", dir(), i);
            linked += link(f, p) == 0 || errno == EEXIST; /* (planted by an earlier round) */
        }
        if (write(ans, &linked, sizeof linked) != (ssize_t)sizeof linked) break;
    }
    _exit(0);
}

/* The victim: per round, learns the next inode number from a probe file,
 * has the attacker plant, then makes a segment: writes {errno or 0,
 * planted, zero-filled, id} per round to `out`. */
static void victim(int req, int ans, int out) {
    if (!become(65534)) _exit(2);
    pin();
    for (int r = 0; r < ROUNDS; r++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/probe.%d", dir(), (int)getpid());
        int fd = open(p, O_CREAT | O_RDWR | O_EXCL, 0600);
        struct stat st;
        int res[4] = {-1, 0, 0, -1};
        if (fd >= 0 && fstat(fd, &st) == 0) {
            close(fd);
            unlink(p);
            unsigned long n = st.st_ino;
            int linked = 0;
            if (write(req, &n, sizeof n) == (ssize_t)sizeof n && read(ans, &linked, sizeof linked) == sizeof linked) {
                res[1] = linked;
                int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
                res[0] = id < 0 ? errno : 0;
                res[3] = id;
                if (id >= 0) {
                    char *a = shmat(id, NULL, 0);
                    if (a != (void *)-1) {
                        int zero = 1;
                        for (int i = 0; i < 4096; i++) zero &= a[i] == 0;
                        res[2] = zero;
                        shmdt(a);
                    }
                    shmctl(id, IPC_RMID, NULL);
                }
            }
        }
        if (write(out, res, sizeof res) != (ssize_t)sizeof res) break;
    }
    _exit(0);
}

int main(void) {
    TAP_SKIP_UNLESS_ROOT();
    int req[2], ans[2], out[2];
    if (pipe(req) || pipe(ans) || pipe(out)) return 1;
    fflush(stdout);
    pid_t a = fork();
    if (a == 0) {
        alarm(60);
        close(req[1]);
        close(ans[0]);
        close(out[0]);
        close(out[1]);
        attacker(req[0], ans[1]);
    }
    pid_t v = fork();
    if (v == 0) {
        alarm(60);
        close(req[0]);
        close(ans[1]);
        close(out[0]);
        victim(req[1], ans[0], out[1]);
    }
    close(req[0]);
    close(req[1]);
    close(ans[0]);
    close(ans[1]);
    close(out[1]);
    int made = 0, zeroed = 0, planted = 0, rounds = 0;
    int res[4];
    while (read(out[0], res, sizeof res) == (ssize_t)sizeof res) {
        rounds++;
        planted += res[1] == PLANT;
        made += res[0] == 0;
        zeroed += res[2];
        if (res[0] != 0) diag("round %d: shmget failed: %s", rounds, strerror(res[0]));
    }
    int sv = 0, sa = 0;
    waitpid(v, &sv, 0);
    waitpid(a, &sa, 0);
    ok(rounds == ROUNDS && planted == ROUNDS && WIFEXITED(sa) && WEXITSTATUS(sa) == 0,
       "uid 65533 planted its file at the next %d payload names, %d rounds of %d (status 0x%x 0x%x)", PLANT,
       planted, rounds, sa, sv);
    ok(made == ROUNDS, "uid 65534's shmget succeeded in %d of %d rounds (before: ENOMEM)", made, ROUNDS);
    ok(zeroed == ROUNDS, "and its segment was zero-filled, never the planted file (%d of %d)", zeroed, ROUNDS);

    /* Root clears the planted names (they would be left in the namespace). */
    DIR *d = opendir(dir());
    struct dirent *e;
    int left = 0;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "shm.data.", 9) && strcmp(e->d_name, "planted")) continue;
        char p[4096];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir(), e->d_name);
        if (lstat(p, &st) == 0 && st.st_uid == 65533) left += unlink(p) == 0;
    }
    if (d) closedir(d);
    ok(left >= PLANT, "root removed the %d planted names", left);
    return done_testing();
}
